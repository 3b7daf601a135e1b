using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

public class BandingAndBranchTests
{
    [Fact]
    public void Band_strength_is_one_for_constant_rows_zero_for_constant_columns_and_the_analytic_mean_for_noise()
    {
        Tensor rowsConstant = arange(5, dtype: ScalarType.Float32).reshape(5, 1).expand(5, 5).contiguous();   // horizontal bands
        Tensor colsConstant = rowsConstant.t().contiguous();

        var h = WeightBanding.Measure(rowsConstant).Single();
        var v = WeightBanding.Measure(colsConstant).Single();

        h.Horizontal.Should().BeApproximately(1, 1e-12);
        h.Vertical.Should().BeApproximately(0, 1e-12);
        v.Horizontal.Should().BeApproximately(0, 1e-12);
        v.Vertical.Should().BeApproximately(1, 1e-12);

        // Independent noise: E[strength] = (kh - 1) / (kh kw - 1) = 1/6 for 5 x 5 (each unit pools 64 kernels).
        Tensor noise = randn(new long[] { 400, 64, 5, 5 }, generator: new Generator(7));
        double mean = WeightBanding.Measure(noise).Average(b => b.Horizontal);
        mean.Should().BeApproximately(WeightBanding.RandomExpectation(5, 5), 0.005);
        WeightBanding.RandomExpectation(5, 5).Should().BeApproximately(1 / 6.0, 1e-12);

        // Per unit, pooled over input channels: a unit mixing a banded and a noise kernel lies in between.
        Tensor mixed = stack(new[] { rowsConstant, randn(5, 5, generator: new Generator(1)) }).unsqueeze(0);
        WeightBanding.Measure(mixed).Single().Horizontal.Should().BeInRange(0.2, 0.99);
        FluentActions.Invoking(() => WeightBanding.Measure(zeros(4, 4, 1, 1))).Should().Throw<CircuitsException>().WithMessage("*1 x 1 kernel*");
    }

    [Fact]
    public void Branch_ranges_are_found_by_running_the_model_and_match_inceptionv1s_layout()
    {
        using var model = new InceptionV1(seed: 3);
        string[] branches = { "mixed3b.relu_5x5", "mixed3b.relu_1x1", "mixed3b.relu_pool_reduce", "mixed3b.relu_3x3" };

        var ranges = BranchSpecialization.ChannelRanges(model, "mixed3b", branches, new long[] { 3, 32, 32 });

        ranges.Select(r => (r.Branch, r.Start, r.Count)).Should().Equal(
            ("mixed3b.relu_1x1", 0, 128), ("mixed3b.relu_3x3", 128, 192), ("mixed3b.relu_5x5", 320, 96), ("mixed3b.relu_pool_reduce", 416, 64));
        // The Curve Detectors article's ten curve units all live in mixed3b's 5x5 branch (the Branch Specialization article).
        var counts = BranchSpecialization.Counts(ranges, new[] { 379, 406, 385, 343, 342, 388, 324, 340, 330, 349 });
        counts.Single(c => c.Count > 0).Branch.Branch.Should().Be("mixed3b.relu_5x5");
        BranchSpecialization.BranchOf(ranges, 415).Branch.Should().Be("mixed3b.relu_5x5");
        FluentActions.Invoking(() => BranchSpecialization.ChannelRanges(model, "mixed3b", branches.Take(3).ToList(), new long[] { 3, 32, 32 }))
            .Should().Throw<CircuitsException>().WithMessage("*do not tile*");
    }

    [Fact]
    public void The_chance_of_a_whole_family_in_one_branch_matches_the_articles_bounds_and_a_direct_count()
    {
        // Direct count on a tiny case: 2 of 5 units in a branch of 3: C(3,2)/C(5,2) = 3/10.
        BranchSpecialization.ChanceAllInBranch(5, 3, 2).Should().BeApproximately(0.3, 1e-15);
        BranchSpecialization.ChanceAllInBranch(256, 32, 9).Should().BeLessThan(1e-8);
        BranchSpecialization.ChanceAllInBranch(480, 96, 30).Should().BeLessThan(1e-20);
        BranchSpecialization.ChanceAllInBranch(10, 2, 3).Should().Be(0);
        FluentActions.Invoking(() => BranchSpecialization.ChanceAllInBranch(10, 11, 2)).Should().Throw<CircuitsException>();
    }
}
