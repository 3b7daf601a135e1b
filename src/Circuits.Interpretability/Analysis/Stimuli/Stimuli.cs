using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// Deterministic synthetic stimuli, as the Circuits articles used to probe neurons: curves, lines, edges,
/// gratings, high-low frequency boundaries and colour-contrast patches. Every image is 1 x 3 x H x W RGB in
/// [0, 1] (float32, on the CPU), antialiased analytically (a shape's coverage of a pixel falls linearly over
/// one pixel across its boundary), and the same options always give the same pixels.
/// </summary>
/// <example>
/// <code>
/// using Tensor curve = Stimuli.Render(new CurveStimulus { Orientation = 45, Curvature = 0.1 });
/// using Tensor sweep = Stimuli.RenderBatch(Enumerable.Range(0, 8).Select(i => new GratingStimulus { Orientation = i * 22.5 }));
/// </code>
/// </example>
public static class Stimuli
{
    /// <summary>Renders one stimulus as a 1 x 3 x H x W image.</summary>
    /// <exception cref="CircuitsException">An option is out of range; the message names it and the valid range.</exception>
    public static Tensor Render(StimulusOptions stimulus)
    {
        ArgumentNullException.ThrowIfNull(stimulus);
        TorchBackend.EnsureAvailable();
        stimulus.Validate();
        float[] pixels = Draw(stimulus);
        return tensor(pixels).reshape(1, 3, stimulus.Height, stimulus.Width);
    }

    /// <summary>Renders several stimuli of one size as an N x 3 x H x W batch.</summary>
    /// <exception cref="CircuitsException">The list is empty or the stimuli differ in size.</exception>
    public static Tensor RenderBatch(IEnumerable<StimulusOptions> stimuli)
    {
        ArgumentNullException.ThrowIfNull(stimuli);
        TorchBackend.EnsureAvailable();
        var list = stimuli.ToList();
        if (list.Count == 0)
        {
            throw new CircuitsException("RenderBatch needs at least one stimulus; got none.");
        }

        var first = list[0];
        var bad = list.FirstOrDefault(s => s.Width != first.Width || s.Height != first.Height);
        if (bad is not null)
        {
            throw new CircuitsException(
                $"A batch needs stimuli of one size; got {first.Width} x {first.Height} and {bad.Width} x {bad.Height}.");
        }

        long size = 3L * first.Width * first.Height;
        var all = new float[list.Count * size];
        for (int i = 0; i < list.Count; i++)
        {
            list[i].Validate();
            Array.Copy(Draw(list[i]), 0, all, i * size, size);
        }

        return tensor(all).reshape(list.Count, 3, first.Height, first.Width);
    }

    /// <summary>Shorthand for <see cref="Render"/> of a <see cref="CurveStimulus"/>.</summary>
    public static Tensor Curve(CurveStimulus curve) => Render(curve);

    /// <summary>Shorthand for <see cref="Render"/> of a <see cref="LineStimulus"/>.</summary>
    public static Tensor Line(LineStimulus line) => Render(line);

    /// <summary>Shorthand for <see cref="Render"/> of an <see cref="EdgeStimulus"/>.</summary>
    public static Tensor Edge(EdgeStimulus edge) => Render(edge);

    /// <summary>Shorthand for <see cref="Render"/> of a <see cref="GratingStimulus"/>.</summary>
    public static Tensor Grating(GratingStimulus grating) => Render(grating);

    /// <summary>Shorthand for <see cref="Render"/> of a <see cref="FrequencyBoundaryStimulus"/>.</summary>
    public static Tensor FrequencyBoundary(FrequencyBoundaryStimulus boundary) => Render(boundary);

    /// <summary>Shorthand for <see cref="Render"/> of a <see cref="ColorContrastStimulus"/>.</summary>
    public static Tensor ColorContrast(ColorContrastStimulus patch) => Render(patch);

    /// <summary>Coverage of a pixel by a stroke of half-width <paramref name="half"/> at distance <paramref name="distance"/> from its centre line.</summary>
    private static double Stroke(double distance, double half) => Math.Clamp(half - distance + 0.5, 0, 1);

    /// <summary>Coverage of a pixel by a half-plane whose boundary lies at signed distance <paramref name="signed"/> (positive inside).</summary>
    private static double Side(double signed) => Math.Clamp(signed + 0.5, 0, 1);

    private static float[] Draw(StimulusOptions s)
    {
        int w = s.Width, h = s.Height, plane = w * h;
        var pixels = new float[3 * plane];
        double theta = CurveGeometry.Radians(s.Orientation);
        (double ux, double uy) = CurveGeometry.Unit(theta);              // the orientation's direction
        (double tx, double ty) = CurveGeometry.Unit(theta + (Math.PI / 2)); // 90° counter-clockwise from it
        CurveGeometry? arc = s is CurveStimulus c ? new CurveGeometry(s.X, s.Y, s.Orientation, c.Curvature, c.ArcLength) : null;
        for (int row = 0; row < h; row++)
        {
            for (int col = 0; col < w; col++)
            {
                double dx = col - s.X, dy = row - s.Y;
                double along = (dx * ux) + (dy * uy);   // toward the orientation
                double across = (dx * tx) + (dy * ty);  // perpendicular to it
                Rgb colour = s switch
                {
                    CurveStimulus curve => Rgb.Mix(s.Background, curve.Foreground, Stroke(arc!.Value.Distance(col, row), curve.Thickness / 2)),
                    LineStimulus line => Rgb.Mix(s.Background, line.Foreground, LineCoverage(line, along, across)),
                    EdgeStimulus edge => Rgb.Mix(s.Background, edge.Foreground, Side(along)),
                    GratingStimulus g => Rgb.Mix(s.Background, g.Foreground, Wave(g.Frequency, across, CurveGeometry.Radians(g.Phase))),
                    FrequencyBoundaryStimulus f => Rgb.Mix(s.Background, f.Foreground,
                        Mix(Wave(f.LowFrequency, across, 0), Wave(f.HighFrequency, across, 0), Side(along))),
                    ColorContrastStimulus p => ContrastColour(p, along, dx, dy),
                    _ => throw new CircuitsException($"Stimulus type {s.GetType().Name} is not known; expected a curve, line, edge, grating, frequency boundary or colour-contrast stimulus."),
                };
                int i = (row * w) + col;
                pixels[i] = colour.R;
                pixels[plane + i] = colour.G;
                pixels[(2 * plane) + i] = colour.B;
            }
        }

        return pixels;
    }

    private static double LineCoverage(LineStimulus line, double along, double across)
    {
        // For a line, the orientation is the direction it runs: "along" runs with the line.
        double distance = Math.Abs(across);
        if (line.Length is double length && Math.Abs(along) > length / 2)
        {
            double beyond = Math.Abs(along) - (length / 2);
            distance = Math.Sqrt((beyond * beyond) + (across * across));
        }

        return Stroke(distance, line.Thickness / 2);
    }

    /// <summary>A cosine wave in [0, 1]; frequency 0 is flat at 0.5 (the mean).</summary>
    private static double Wave(double frequency, double position, double phase) =>
        frequency == 0 ? 0.5 : 0.5 + (0.5 * Math.Cos((2 * Math.PI * frequency * position) + phase));

    private static double Mix(double a, double b, double t) => a + ((b - a) * t);

    private static Rgb ContrastColour(ColorContrastStimulus p, double along, double dx, double dy)
    {
        Rgb inside = Rgb.Mix(p.Second, p.First, Side(along));
        if (p.Radius is not double radius)
        {
            return inside;
        }

        return Rgb.Mix(p.Background, inside, Stroke(Math.Sqrt((dx * dx) + (dy * dy)), radius));
    }
}
