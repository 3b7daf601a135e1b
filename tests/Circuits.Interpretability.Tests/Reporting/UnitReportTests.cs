using System.Text.RegularExpressions;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Reporting;

public sealed class UnitReportTests
{
    /// <summary>3 targets (b:0..2) x 4 sources (a:10..13) x 3 x 3, with known norms: weights[t, s] = (t + 1) * (s + 1) * a pattern with one negative cell.</summary>
    private static ExpandedWeightSet Weights()
    {
        var pattern = new float[] { 0, 1, 0, 1, 2, 1, 0, -1, 0 };
        var values = new float[3 * 4 * 9];
        for (int t = 0; t < 3; t++)
        {
            for (int s = 0; s < 4; s++)
            {
                float f = (t + 1) * (s == 2 ? 5 : s + 1);   // source a:12 is the strongest input of every target
                for (int k = 0; k < 9; k++)
                {
                    values[(((t * 4) + s) * 9) + k] = f * pattern[k];
                }
            }
        }

        return new ExpandedWeightSet("a", "b", new[] { 10, 11, 12, 13 }, new[] { 0, 1, 2 }, tensor(values).reshape(3, 4, 3, 3), 1, 1,
            ExpandedWeightMethod.PackedImpulses, "2 x 2 tiles 3 x 3 apart");
    }

    [Fact]
    public void Inputs_are_the_strongest_sources_on_one_shared_colour_scale()
    {
        using ExpandedWeightSet set = Weights();
        var unit = new UnitReport("b:1").AddInputs(set, 2, s => $"a:{s} (named)");

        UnitConnections inputs = unit.Connections.Should().ContainSingle().Subject;
        inputs.Direction.Should().Be(ConnectionDirection.Inputs);
        inputs.Items.Select(i => i.Unit.ToString()).Should().Equal("a:12", "a:13");
        inputs.Items[0].Label.Should().Be("a:12 (named)");
        double norm = Math.Sqrt(1 + 1 + 4 + 1 + 1);   // the pattern's L2 norm
        inputs.Items[0].Strength.Should().BeApproximately(2 * 5 * norm, 1e-4);
        inputs.Items[1].Strength.Should().BeApproximately(2 * 4 * norm, 1e-4);
        inputs.MaxAbs.Should().BeApproximately(2 * 5 * 2, 1e-5, "the largest weight of the shown maps");
        inputs.CropSize.Should().Be(3);
        inputs.Method.Should().Contain("PackedImpulses: 2 x 2 tiles");

        // Shared scale: the centre of the strongest map is full blue, the weaker map's centre is 8/10 of the way from white.
        using Tensor strong = ImageIO.Decode(inputs.Items[0].Weights.Png);
        using Tensor weak = ImageIO.Decode(inputs.Items[1].Weights.Png);
        strong.shape.Should().Equal(3, 3, 3);
        Rgb blue = WeightImage.PositiveColor;
        strong[0, 1, 1].item<float>().Should().BeApproximately(blue.R, 1 / 255f + 1e-4f);
        weak[0, 1, 1].item<float>().Should().BeApproximately(1 - (0.8f * (1 - blue.R)), 1 / 255f + 1e-4f);
        strong[2, 2, 1].item<float>().Should().BeLessThan(1, "the negative cell is red: its blue channel drops");
    }

    [Fact]
    public void Outputs_are_the_targets_this_unit_feeds_most()
    {
        using ExpandedWeightSet set = Weights();
        var unit = new UnitReport("a:11").AddOutputs(set, 3);

        UnitConnections outputs = unit.Connections.Single();
        outputs.Direction.Should().Be(ConnectionDirection.Outputs);
        // Naive: the norm of weights[t, a:11] for each target, largest first.
        var naive = new[] { 0, 1, 2 }.Select(t => (Unit: $"b:{t}", Norm: set.Get(t, 11).square().sum().sqrt().item<float>())).OrderByDescending(p => p.Norm).ToList();
        outputs.Items.Select(i => i.Unit.ToString()).Should().Equal(naive.Select(n => n.Unit));
        outputs.Items.Select(i => i.Strength).Should().Equal(naive.Select(n => (double)n.Norm), (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public void Parts_of_another_unit_are_refused_with_the_reason()
    {
        using ExpandedWeightSet set = Weights();
        var wrongTarget = () => new UnitReport("c:1").AddInputs(set, 2);
        wrongTarget.Should().Throw<CircuitsException>().WithMessage("*a -> b do not lead into c:1*target layer is 'c'*");
        var notASource = () => new UnitReport("a:3").AddOutputs(set, 2);
        notASource.Should().Throw<CircuitsException>().WithMessage("*do not lead out of a:3*channel 3 among its sources*");
        var layerOnly = () => new UnitReport("b");
        layerOnly.Should().Throw<InvalidAddressException>().WithMessage("*needs a channel*b:0*");
        var curve = new TuningCurve(new NeuronAddress("b_relu", 2), TuningReadout.Position, "orientation", new double[] { 0, 90 }, new double[] { 0, 1 }, "degrees");
        var otherChannel = () => new UnitReport("b:1").AddTuning(curve, "curves");
        otherChannel.Should().Throw<CircuitsException>().WithMessage("*b_relu:2 does not belong in the report of b:1*");
    }

    [Fact]
    public void The_section_says_what_each_figure_shows_with_legend_links_and_folded_method()
    {
        using ExpandedWeightSet set = Weights();
        var flat = new TuningCurve(new NeuronAddress("b_relu", 1), TuningReadout.Position, "orientation", new double[] { 0, 90, 180, 270 }, new double[] { 0, 0, 0, 0 }, "degrees");
        var peaked = new TuningCurve(new NeuronAddress("b", 1), TuningReadout.Position, "orientation", new double[] { 0, 90, 180, 270 }, new double[] { 0.1, 0.9, 0.3, 0 }, "degrees");
        using Tensor image = rand(3, 8, 8);
        var unit = new UnitReport("b:1") { Family = "curve detector", Summary = "A test unit." }
            .AddVisualization(image, "channel objective")
            .AddInputs(set, 2)
            .AddTuning(peaked, "a synthetic curve", "designed 90°")
            .AddTuning(flat, "a blank image")
            .AddNote("Looks like a curve <detector>.")
            .AddMethodDetail("512 steps.");
        var report = new HtmlReport("t");

        unit.WriteTo(report, new UnitReportOptions { Link = u => u.Layer == "a" ? $"{u.Layer}-{u.Channel}.html" : null });
        string html = report.ToHtml();
        string text = System.Net.WebUtility.HtmlDecode(html);

        html.Should().Contain("<section class=\"unit\" id=\"unit-b_1\">").And.Contain("<h3>b:1<span class=\"family\">curve detector</span></h3>");
        html.Should().Contain("<h4>Feature visualization</h4>").And.Contain("<h4>Strongest inputs from a</h4>").And.Contain("<h4>Tuning: response over orientation</h4>");
        html.Should().Contain("Blue: activity there excites b:1; red: it inhibits.");
        html.Should().Contain("<a href=\"a-12.html\">").And.Contain("<a href=\"a-13.html\">a:13</a>");
        Regex.Matches(html, "<svg[^>]*class=\"legend\"").Count.Should().Be(1);
        text.Should().Contain("inhibits").And.Contain("excites").And.Contain("+20").And.Contain("\u221220");
        text.Should().Contain("peak at 90° (response 0.9); designed 90°.");
        text.Should().Contain("b_relu:1 never responded").And.Contain("never responded (0 at every orientation)");
        Regex.Matches(html, "<svg[^>]*class=\"plot\"").Count.Should().Be(2);
        html.Should().MatchRegex("<details><summary>How these weights were computed</summary><p>[^<]*PackedImpulses: 2 x 2 tiles");
        html.Should().Contain("<li>Looks like a curve &lt;detector&gt;.</li>");
        html.Should().MatchRegex("<details><summary>How the figures of b:1 were made</summary><p>512 steps.</p>");
        report.ImageCount.Should().Be(3, "the visualization and two weight images");
        html.Should().MatchRegex("<img src=\"data:image/png;base64,[^\"]+\" width=\"120\" height=\"120\"", "3 x 3 weight maps are enlarged on the page");
    }
}
