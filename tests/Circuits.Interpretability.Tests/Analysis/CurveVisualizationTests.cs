using Circuits.Interpretability.Analysis.Equivariance;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

/// <summary>Feature visualizations of the hand-built curve units: each must show a curve of its designed orientation.</summary>
public class CurveVisualizationTests
{
    private const int Size = 32, Crop = 19;
    private readonly ITestOutputHelper _output;

    public CurveVisualizationTests(ITestOutputHelper output) => _output = output;

    private static double Correlation(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        Tensor x = a.flatten().to(ScalarType.Float64);
        Tensor y = b.flatten().to(ScalarType.Float64);
        x = x - x.mean();
        y = y - y.mean();
        return (x.dot(y) / (x.norm() * y.norm())).item<double>();
    }

    private static Tensor CentreCrop(Tensor images) =>
        images[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice((Size / 2) - (Crop / 2), (Size / 2) - (Crop / 2) + Crop),
            TensorIndex.Slice((Size / 2) - (Crop / 2), (Size / 2) - (Crop / 2) + Crop)];

    [Fact]
    public void Each_curve_units_visualization_correlates_best_with_the_curve_of_its_designed_orientation_and_rotates_into_the_next()
    {
        using var model = new CurveCircuit();
        // Small jitter only: Lucid's standard scale and rotation jitter would blur the very orientation we measure.
        var render = new RenderOptions { Steps = 128, ImageSize = Size, Seed = 3, Transforms = Array.Empty<IImageTransform>() };
        // The conv before the ReLU: at a grey start every curve unit's ReLU output is exactly 0, and the render
        // loop reads the objective's layer before its redirected-ReLU hook runs, so a ReLU-output objective gets no gradient.
        var (matching, crops) = Equivariance.MatchRenderedRotations(model, CurveCircuit.CurvesLayer, Enumerable.Range(0, 16).ToArray(),
            model.CurveStepDegrees, Crop, render);
        using (crops)
        using (var scope = NewDisposeScope())
        {
            if (Environment.GetEnvironmentVariable("CIRCUITS_KEEP_PLOTS") is string keep)
            {
                ImageIO.SavePng(ImageGrid.Make(crops, 8), Path.Combine(keep, "curve-units.png"));
            }

            // Luminance of each visualization against curve stimuli at 72 orientations (5 degrees apart), both
            // cropped to the units' receptive field around the centre neuron.
            Tensor grey = crops.mean(new long[] { 1 }).flatten(1);
            double[] angles = Enumerable.Range(0, 72).Select(i => i * 5.0).ToArray();
            Tensor stimuli = CentreCrop(Stimuli.RenderBatch(angles.Select(a => new CurveStimulus { Orientation = a, Width = Size, Height = Size })))
                .mean(new long[] { 1 }).flatten(1);
            Tensor Standard(Tensor rows)
            {
                Tensor c = rows - rows.mean(new long[] { 1 }, keepdim: true);
                return c / c.norm(1, true);
            }

            // r[k, a] = Pearson correlation of unit k's visualization with the curve of orientation a.
            Tensor r = Standard(grey).matmul(Standard(stimuli).t());
            var errors = new List<double>();
            var atDesign = new List<double>();
            var bestOther = new List<double>();
            for (int k = 0; k < 16; k++)
            {
                double[] row = r[k].to(ScalarType.Float64).data<double>().ToArray();
                int best = Enumerable.Range(0, row.Length).Aggregate((b, i) => row[i] > row[b] ? i : b);
                double designed = model.CurveOrientations[k];
                double error = Math.Min(Math.Abs(angles[best] - designed) % 360, 360 - (Math.Abs(angles[best] - designed) % 360));
                errors.Add(error);
                // Among the 16 designed orientations (22.5 degrees apart), the unit's own must win.
                double[] designedR = model.CurveOrientations.Select(o => Correlation(grey[k],
                    CentreCrop(Stimuli.Render(new CurveStimulus { Orientation = o, Width = Size, Height = Size })).mean(new long[] { 1 }))).ToArray();
                atDesign.Add(designedR[k]);
                bestOther.Add(designedR.Where((_, j) => j != k).Max());
                _output.WriteLine($"unit {k,2}: designed {designed,6:F1}, best stimulus {angles[best],6:F1} (r = {row[best]:F3}); r at design {designedR[k]:F3}, best other designed {bestOther[^1]:F3}");
            }

            _output.WriteLine($"max orientation error {errors.Max():F1} degrees, mean r at design {atDesign.Average():F3}");
            _output.WriteLine(matching.ToText());
            errors.Should().OnlyContain(e => e <= 15, "the visualization shows a curve of the designed orientation (measured: at most 7.5 degrees off)");
            atDesign.Zip(bestOther).Should().OnlyContain(p => p.First > p.Second + 0.1, "among the 16 designed orientations the unit's own wins clearly (measured: 0.51-0.57 against at most 0.38)");
            atDesign.Average().Should().BeGreaterThan(0.45);
            matching.Shift.Should().Be(1, "rotating unit k's visualization by 22.5 degrees best matches unit k + 1");
            matching.Consistency.Should().Be(1);
            matching.MeanScore.Should().BeGreaterThan(0.8, "measured 0.92");
        }
    }
}
