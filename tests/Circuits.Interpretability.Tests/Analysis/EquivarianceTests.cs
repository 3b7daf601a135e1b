using Circuits.Interpretability.Analysis.Equivariance;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

public class EquivarianceTests
{
    private readonly ITestOutputHelper _output;

    public EquivarianceTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Rotating_each_curve_units_pixel_space_weights_by_22_5_degrees_best_matches_the_next_unit_for_all_16()
    {
        using var model = new CurveCircuit();
        using Tensor weights = model.DesignedInputToCurveWeights(); // 16 x 3 x 19 x 19
        RotationMatching m = Equivariance.MatchRotations(weights, model.CurveStepDegrees);
        _output.WriteLine(m.ToText());

        m.Shift.Should().Be(1);
        m.Consistency.Should().Be(1);
        m.Matches.Should().OnlyContain(x => x.Match == (x.Unit + 1) % 16);
        m.MeanScore.Should().BeGreaterThan(0.9);
        // The unrotated comparison (identity) is not what matches: unit k rotated is far from unit k itself.
        Enumerable.Range(0, 16).Average(i => m.Similarity[i, i]).Should().BeLessThan(m.MeanScore - 0.1);

        RotationMatching back = Equivariance.MatchRotations(weights, -model.CurveStepDegrees);
        back.Shift.Should().Be(15, "rotating clockwise maps unit k to unit k - 1");
        back.Consistency.Should().Be(1);
    }

    [Fact]
    public void Curve_weights_over_line_detectors_match_the_next_unit_when_line_channels_shift_with_the_rotation()
    {
        using var model = new CurveCircuit();
        using Tensor weights = model.DesignedCurveWeights(); // 16 x 16 lines x 13 x 13
        // 22.5 degrees is two steps of the 16 line orientations (11.25 degrees apart).
        RotationMatching m = Equivariance.MatchRotations(weights, 22.5, new EquivarianceOptions { InputChannelShift = 2 });
        _output.WriteLine(m.ToText());
        m.Shift.Should().Be(1);
        m.Consistency.Should().Be(1);
        m.MeanScore.Should().BeGreaterThan(0.8);

        RotationMatching unshifted = Equivariance.MatchRotations(weights, 22.5);
        _output.WriteLine($"without the channel shift: mean score at the shift {unshifted.ShiftScore:F3}");
        unshifted.ShiftScore.Should().BeLessThan(m.ShiftScore - 0.2, "line channels must rotate with the space");
    }

    [Fact]
    public void A_family_that_is_not_equivariant_gets_a_low_consistency()
    {
        using var noise = rand(new long[] { 8, 3, 15, 15 }, generator: new Generator(5));
        RotationMatching m = Equivariance.MatchRotations(noise, 45);
        _output.WriteLine(m.ToText());
        m.MeanScore.Should().BeLessThan(0.5);

        var bad = () => Equivariance.MatchRotations(noise[0], 45);
        bad.Should().Throw<CircuitsException>().WithMessage("*N x C x H x W with N >= 2*[3, 15, 15]*");
    }
}
