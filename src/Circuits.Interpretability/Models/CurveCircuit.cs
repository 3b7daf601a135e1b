using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// A hand-built curve circuit, in the spirit of the Curve Circuits article's rewiring experiment: a small
/// convolutional network whose weights are set by formula, not by training, so that its features are known
/// exactly. It is the library's ground truth for feature visualization, tuning curves, dataset examples,
/// equivariance and expanded weights, and the default model of the samples.
/// </summary>
/// <remarks>
/// <para><b>Input.</b> RGB images in [0, 1], N x 3 x H x W (64 x 64 by default; any size of at least one
/// kernel works). No preprocessing: the line detectors weigh R, G and B equally (a luminance detector) and
/// every kernel sums to zero with replicate padding, so the model ignores the grey level; subtracting 0.5 (or
/// any constant) changes nothing. It detects <b>dark</b> lines and curves on a lighter background, as in the
/// article's black-on-white stimuli.</para>
/// <para><b>Layers</b> (module paths for the hook API; every stage is a registered child invoked with
/// <c>call()</c>):</para>
/// <list type="bullet">
/// <item><c>lines</c>: conv 3 → L (L = <see cref="CurveCircuitOptions.LineOrientations"/>), stride 1, same
/// size. Channel i detects a thin dark line of orientation θᵢ = i · 180° / L (counter-clockwise from
/// horizontal): a negative centre stripe with positive flanks (a negated Ricker profile, σ = 1 pixel) under a
/// Gaussian envelope along the line (σ = 2 pixels), inside a disc, made zero-sum and scaled so that its
/// positive weights sum to 1 (so responses lie in [-1, 1] before the bias).</item>
/// <item><c>lines_relu</c>: ReLU.</item>
/// <item><c>curves</c>: conv L → K (K = <see cref="CurveCircuitOptions.CurveOrientations"/>), stride 1, zero
/// padding, same size. Unit k prefers an arc of orientation φₖ = k · 360° / K — the direction its convex side
/// points — with radius <see cref="CurveCircuitOptions.CurveRadius"/>, spanning
/// <see cref="CurveCircuitOptions.CurveArcDegrees"/>, centred on the unit (the midpoint between the apex and
/// the middle of the chord lies on the unit's position). At every point of that arc the kernel weighs line
/// detector i by cos⁴(2Δ) where Δ is the angle between θᵢ and the arc's tangent there (only the matching
/// half), and by −β·cos⁴(2Δ) for the orthogonal half (β = <see cref="CurveCircuitOptions.OrthogonalInhibition"/>),
/// splatted with a Gaussian of σ = 0.75 positions; each unit's positive weights sum to 1.
/// See <see cref="DesignedCurveWeights"/>.</item>
/// <item><c>curves_relu</c>: ReLU. Address curve unit k as <c>curves_relu:k</c> (<see cref="CurveUnit"/>).</item>
/// </list>
/// </remarks>
public sealed class CurveCircuit : nn.Module<Tensor, Tensor>, IInputConvention
{
    /// <summary>The path of the line detectors' conv.</summary>
    public const string LinesLayer = "lines";

    /// <summary>The path of the line detectors' ReLU.</summary>
    public const string LinesReluLayer = "lines_relu";

    /// <summary>The path of the curve detectors' conv.</summary>
    public const string CurvesLayer = "curves";

    /// <summary>The path of the curve detectors' ReLU.</summary>
    public const string CurvesReluLayer = "curves_relu";

#pragma warning disable IDE1006 // Module names follow TorchSharp's field-name registration: they are the hook API's paths.
    private readonly Conv2d lines;
    private readonly ReLU lines_relu;
    private readonly Conv2d curves;
    private readonly ReLU curves_relu;
#pragma warning restore IDE1006

    /// <summary>Builds the circuit from <paramref name="options"/> (the defaults when null).</summary>
    /// <exception cref="CircuitsException">An option is out of range; the message names it and the valid range.</exception>
    public CurveCircuit(CurveCircuitOptions? options = null) : base(TorchBackend.Checked(nameof(CurveCircuit)))
    {
        Options = options ?? new CurveCircuitOptions();
        Validate(Options);
        int l = Options.LineOrientations, k = Options.CurveOrientations;
        lines = nn.Conv2d(3, l, Options.LineKernelSize, padding: Options.LineKernelSize / 2, padding_mode: PaddingModes.Replicate);
        lines_relu = nn.ReLU();
        curves = nn.Conv2d(l, k, Options.CurveKernelSize, padding: Options.CurveKernelSize / 2);
        curves_relu = nn.ReLU();
        RegisterComponents();
        LineOrientations = Enumerable.Range(0, l).Select(i => i * 180.0 / l).ToArray();
        CurveOrientations = Enumerable.Range(0, k).Select(i => i * 360.0 / k).ToArray();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        lines.weight!.copy_(DesignedLineWeights());
        lines.bias!.fill_(Options.LineBias);
        curves.weight!.copy_(DesignedCurveWeights());
        curves.bias!.fill_(Options.CurveBias);
    }

    /// <summary>The design this circuit was built from.</summary>
    public CurveCircuitOptions Options { get; }

    /// <summary>The orientation of each line detector (channel of <c>lines</c>), in degrees in [0, 180).</summary>
    public IReadOnlyList<double> LineOrientations { get; }

    /// <summary>
    /// The designed orientation of each curve unit (channel of <c>curves</c>), in degrees in [0, 360): the
    /// direction its preferred arc's convex side points.
    /// </summary>
    public IReadOnlyList<double> CurveOrientations { get; }

    /// <summary>The angle between neighbouring curve units: 360° / <see cref="CurveCircuitOptions.CurveOrientations"/>.</summary>
    public double CurveStepDegrees => 360.0 / Options.CurveOrientations;

    /// <summary>The side of a curve unit's receptive field in input pixels: line kernel + curve kernel − 1.</summary>
    public int ReceptiveField => Options.LineKernelSize + Options.CurveKernelSize - 1;

    /// <summary>The address of curve unit <paramref name="k"/> after its ReLU (at the centre unless a position is given).</summary>
    public static NeuronAddress CurveUnit(int k, int? y = null, int? x = null) => new(CurvesReluLayer, k, y, x);

    /// <summary>
    /// The circuit's input convention: none. It was designed on RGB in [0, 1], so the image goes in as is
    /// (declared, so that renders, tuning curves and attribution need no preprocessing option).
    /// </summary>
    public Tensor Preprocess(Tensor image) => image ?? throw new ArgumentNullException(nameof(image));

    /// <inheritdoc />
    public override Tensor forward(Tensor input) =>
        curves_relu.call(curves.call(lines_relu.call(lines.call(input))));

    /// <summary>The designed weights of <c>lines</c>: L x 3 x k x k (the same kernel, divided by 3, on R, G and B).</summary>
    public Tensor DesignedLineWeights()
    {
        int size = Options.LineKernelSize, c = size / 2;
        var values = new float[Options.LineOrientations * 3 * size * size];
        for (int i = 0; i < Options.LineOrientations; i++)
        {
            double theta = CurveGeometry.Radians(i * 180.0 / Options.LineOrientations);
            (double tx, double ty) = CurveGeometry.Unit(theta);
            var kernel = new double[size * size];
            var inside = new bool[size * size];
            double sum = 0;
            int count = 0;
            for (int r = 0; r < size; r++)
            {
                for (int q = 0; q < size; q++)
                {
                    double dx = q - c, dy = r - c;
                    if ((dx * dx) + (dy * dy) > (c + 0.5) * (c + 0.5))
                    {
                        continue;
                    }

                    double along = (dx * tx) + (dy * ty);
                    double across = (dx * -ty) + (dy * tx);
                    double ricker = (1 - (across * across)) * Math.Exp(-(across * across) / 2);
                    double v = -ricker * Math.Exp(-(along * along) / (2 * 2.0 * 2.0));
                    kernel[(r * size) + q] = v;
                    inside[(r * size) + q] = true;
                    sum += v;
                    count++;
                }
            }

            double mean = sum / count, positive = 0;
            for (int j = 0; j < kernel.Length; j++)
            {
                kernel[j] = inside[j] ? kernel[j] - mean : 0;
                positive += Math.Max(0, kernel[j]);
            }

            for (int ch = 0; ch < 3; ch++)
            {
                for (int j = 0; j < kernel.Length; j++)
                {
                    values[(((i * 3) + ch) * size * size) + j] = (float)(kernel[j] / positive / 3);
                }
            }
        }

        return tensor(values).reshape(Options.LineOrientations, 3, size, size);
    }

    /// <summary>
    /// The designed weights from the line detectors to the curve units — the weights of <c>curves</c>, and
    /// what the expanded weights from <c>lines_relu</c> to <c>curves</c> must equal: K x L x k x k, entry
    /// [k, i, y, x] connecting line detector i at offset (y − k/2, x − k/2) to curve unit k. Built from the
    /// arc samples as described on the class.
    /// </summary>
    public Tensor DesignedCurveWeights()
    {
        int size = Options.CurveKernelSize, c = size / 2, lineCount = Options.LineOrientations;
        const double sigma = 0.75;
        var values = new double[Options.CurveOrientations * lineCount * size * size];
        double curvature = 1 / Options.CurveRadius;
        double arcLength = Options.CurveRadius * CurveGeometry.Radians(Options.CurveArcDegrees);
        for (int k = 0; k < Options.CurveOrientations; k++)
        {
            var arc = new CurveGeometry(c, c, k * 360.0 / Options.CurveOrientations, curvature, arcLength);
            int unit = k * lineCount * size * size;
            foreach (var (x, y, tangent, weight) in arc.Samples(0.25))
            {
                for (int r = Math.Max(0, (int)Math.Floor(y - (3 * sigma))); r <= Math.Min(size - 1, (int)Math.Ceiling(y + (3 * sigma))); r++)
                {
                    for (int q = Math.Max(0, (int)Math.Floor(x - (3 * sigma))); q <= Math.Min(size - 1, (int)Math.Ceiling(x + (3 * sigma))); q++)
                    {
                        double splat = weight * Math.Exp(-(((q - x) * (q - x)) + ((r - y) * (r - y))) / (2 * sigma * sigma));
                        for (int i = 0; i < lineCount; i++)
                        {
                            double match = Math.Cos(2 * (CurveGeometry.Radians(i * 180.0 / lineCount) - tangent));
                            double w = match >= 0 ? Math.Pow(match, 4) : -Options.OrthogonalInhibition * Math.Pow(match, 4);
                            values[unit + (((i * size) + r) * size) + q] += splat * w;
                        }
                    }
                }
            }

            double positive = 0;
            for (int j = unit; j < unit + (lineCount * size * size); j++)
            {
                int r = (j / size) % size, q = j % size;
                if (((r - c) * (r - c)) + ((q - c) * (q - c)) > (c + 0.5) * (c + 0.5))
                {
                    values[j] = 0; // a disc, so that rotated units see the same support
                }

                positive += Math.Max(0, values[j]);
            }

            for (int j = unit; j < unit + (lineCount * size * size); j++)
            {
                values[j] /= positive;
            }
        }

        return tensor(values.Select(v => (float)v).ToArray()).reshape(Options.CurveOrientations, lineCount, size, size);
    }

    /// <summary>
    /// The designed composition of the two conv layers: K x 3 x s x s with s = <see cref="ReceptiveField"/>,
    /// entry [k, c, y, x] = Σᵢ Σ (curve weight [k, i, a, b] · line weight [i, c, y − a, x − b]). This is what
    /// the expanded weights from the input to <c>curves</c> equal when <c>lines_relu</c> is linearized
    /// (replaced by the identity), away from the image border; biases are not included.
    /// </summary>
    public Tensor DesignedInputToCurveWeights()
    {
        using var scope = NewDisposeScope();
        Tensor line = DesignedLineWeights();     // L x 3 x a x a
        Tensor curve = DesignedCurveWeights();   // K x L x b x b
        // Full 2-D convolution of each curve kernel with each line kernel, summed over line detectors:
        // conv_transpose2d computes exactly Σᵢ curve[k, i] ⋆ line[i, c] placed at every offset.
        Tensor composed = nn.functional.conv_transpose2d(curve, line);  // K x 3 x (a + b − 1) x (a + b − 1)
        return composed.MoveToOuterDisposeScope();
    }

    private static void Validate(CurveCircuitOptions o)
    {
        Check(o.LineOrientations >= 4, nameof(o.LineOrientations), o.LineOrientations, "at least 4");
        Check(o.CurveOrientations >= 4, nameof(o.CurveOrientations), o.CurveOrientations, "at least 4");
        Check(o.LineKernelSize >= 3 && o.LineKernelSize % 2 == 1, nameof(o.LineKernelSize), o.LineKernelSize, "an odd number of at least 3");
        Check(o.CurveKernelSize >= 3 && o.CurveKernelSize % 2 == 1, nameof(o.CurveKernelSize), o.CurveKernelSize, "an odd number of at least 3");
        Check(o.CurveRadius > 0 && double.IsFinite(o.CurveRadius), nameof(o.CurveRadius), o.CurveRadius, "a positive number of pixels");
        Check(o.CurveArcDegrees > 0 && o.CurveArcDegrees <= 360, nameof(o.CurveArcDegrees), o.CurveArcDegrees, "more than 0 and at most 360");
        Check(o.OrthogonalInhibition >= 0 && double.IsFinite(o.OrthogonalInhibition), nameof(o.OrthogonalInhibition), o.OrthogonalInhibition, "0 or more");
        Check(o.InputSize >= o.LineKernelSize + o.CurveKernelSize - 1, nameof(o.InputSize), o.InputSize,
            $"at least the receptive field, {o.LineKernelSize + o.CurveKernelSize - 1}");
    }

    private static void Check(bool ok, string name, object value, string expected)
    {
        if (!ok)
        {
            throw new CircuitsException($"CurveCircuitOptions.{name} is {value}; expected {expected}.");
        }
    }
}
