using Circuits.Interpretability.Activations;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Tests.Circuits;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Activations;

public class ChannelReducerTests
{
    /// <summary>2 x 8 x 6 x 6 activations made of three non-negative channel patterns with non-negative spatial maps.</summary>
    private static (Tensor Activations, Tensor Parts) Planted()
    {
        var g = new Generator(21);
        Tensor parts = zeros(3, 8);
        parts[0, TensorIndex.Slice(0, 3)] = tensor(new[] { 1f, 0.5f, 0.2f });
        parts[1, TensorIndex.Slice(3, 6)] = tensor(new[] { 0.3f, 1f, 0.7f });
        parts[2, TensorIndex.Slice(5, 8)] = tensor(new[] { 0.4f, 0.6f, 1f });
        Tensor maps = rand(new long[] { 2, 3, 6, 6 }, generator: g).pow(2);
        return (einsum("nkhw,kc->nchw", maps, parts), parts);
    }

    [Fact]
    public void Nmf_factors_come_back_in_the_activations_layout_and_recover_the_planted_parts()
    {
        var (acts, parts) = Planted();
        using var reducer = new ChannelReducer(3, ReductionMethod.Nmf, new ChannelReducerOptions { Iterations = 2000 });

        using Tensor factors = reducer.FitTransform(acts);

        factors.shape.Should().Equal(2, 3, 6, 6);
        factors.min().item<float>().Should().BeGreaterThanOrEqualTo(0);
        reducer.Components.shape.Should().Equal(3, 8);
        using Tensor back = reducer.InverseTransform(factors);
        ((back - acts).norm().item<float>() / acts.norm().item<float>()).Should().BeLessThan(1e-2f);
        // Every planted part is one of the directions, up to order and scale (cosine similarity).
        using Tensor d = reducer.Directions;
        Tensor cos = nn.functional.normalize(parts, dim: 1).mm(nn.functional.normalize(d, dim: 1).t());
        cos.max(1).values.min().item<float>().Should().BeGreaterThan(0.99f);
        // Transform of the same activations gives (nearly) the fitted factors' reconstruction.
        using Tensor again = reducer.Transform(acts);
        using Tensor back2 = reducer.InverseTransform(again);
        ((back2 - acts).norm().item<float>() / acts.norm().item<float>()).Should().BeLessThan(2e-2f);
    }

    [Fact]
    public void PosNeg_lets_nmf_factor_signed_activations()
    {
        // Rank 1 with a signed direction and a non-negative map: relu(m d) = m relu(d), relu(-m d) = m relu(-d).
        Tensor direction = tensor(new[] { 1f, -2f, 0.5f, 0f, -1f });
        Tensor map = rand(new long[] { 1, 1, 5, 5 }, generator: new Generator(3)).add(0.1f);
        Tensor acts = map.mul(direction.reshape(1, 5, 1, 1));
        FluentActions.Invoking(() => new ChannelReducer(1).Fit(acts)).Should().Throw<CircuitsException>().WithMessage("*non-negative*PosNeg*");

        using var reducer = new ChannelReducer(1, ReductionMethod.Nmf, new ChannelReducerOptions { PosNeg = true });
        using Tensor f = reducer.FitTransform(acts);

        reducer.Components.shape.Should().Equal(1, 10);
        using Tensor d = reducer.Directions;
        d.shape.Should().Equal(1, 5);
        nn.functional.cosine_similarity(d[0], direction, dim: 0).item<float>().Should().BeGreaterThan(0.9999f);
        using Tensor back = reducer.InverseTransform(f);
        (back - acts).abs().max().item<float>().Should().BeLessThan(1e-4f);
    }

    [Fact]
    public void Pca_and_ica_reducers_match_the_numerics_they_wrap()
    {
        var (acts, _) = Planted();
        using var pca = new ChannelReducer(2, ReductionMethod.Pca);
        using Tensor pf = pca.FitTransform(acts);
        using Tensor pt = pca.Transform(acts);
        (pf - pt).abs().max().item<float>().Should().BeLessThan(1e-5f);
        using var direct = global::Circuits.Interpretability.Numerics.Pca.Fit(acts.permute(0, 2, 3, 1).reshape(-1, 8), 2);
        (pca.Components - direct.Components).abs().max().item<double>().Should().BeLessThan(1e-12);
        pca.ExplainedVarianceRatio.Should().HaveCount(2);

        using var ica = new ChannelReducer(3, ReductionMethod.Ica);
        using Tensor f = ica.FitTransform(acts[0]);          // one image, C x H x W
        f.shape.Should().Equal(3, 6, 6);
        using Tensor back = ica.InverseTransform(f);
        (back - acts[0]).abs().max().item<float>().Should().BeLessThan(1e-4f, "the data has rank 3");
    }

    [Fact]
    public void FitLayer_samples_a_bounded_number_of_positions_from_a_dataset_deterministically()
    {
        var conv = nn.Conv2d(3, 4, 1);
        var model = nn.Sequential(("conv", conv), ("relu", nn.ReLU()));
        var g = new Generator(8);
        var batches = Enumerable.Range(0, 3).Select(_ => rand(new long[] { 2, 3, 8, 8 }, generator: g)).ToList();
        var seen = new List<int>();

        using var a = new ChannelReducer(2, ReductionMethod.Pca, new ChannelReducerOptions { MaxSamples = 50, Seed = 4 });
        a.FitLayer(model, "relu", batches, progress: new SynchronousProgress<int>(seen.Add));
        using var b = new ChannelReducer(2, ReductionMethod.Pca, new ChannelReducerOptions { MaxSamples = 50, Seed = 4 });
        b.FitLayer(model, "relu", batches);

        seen.Should().Equal(1, 2, 3);
        (a.Components - b.Components).abs().max().item<double>().Should().Be(0);
        FluentActions.Invoking(() => new ChannelReducer(2).FitLayer(model, "rleu", batches)).Should().Throw<UnknownLayerException>().WithMessage("*relu*");
    }

    [Fact]
    public void Factor_maps_are_drawn_as_red_green_blue_over_the_image()
    {
        Tensor factors = zeros(3, 2, 2);
        factors[0, 0, 0] = tensor(2f);
        factors[1, 0, 1] = tensor(5f);
        factors[2, 1, 0] = tensor(1f);

        using Tensor rgb = FactorMap.Render(factors, 2, 2);
        rgb[TensorIndex.Colon, 0, 0].data<float>().ToArray().Should().Equal(1f, 0f, 0f);
        rgb[TensorIndex.Colon, 0, 1].data<float>().ToArray().Should().Equal(0f, 1f, 0f);
        rgb[TensorIndex.Colon, 1, 0].data<float>().ToArray().Should().Equal(0f, 0f, 1f);
        rgb[TensorIndex.Colon, 1, 1].data<float>().ToArray().Should().Equal(0f, 0f, 0f);

        using Tensor over = FactorMap.Render(factors, 2, 2, ones(3, 2, 2), imageWeight: 0.25);
        over[TensorIndex.Colon, 0, 0].data<float>().ToArray().Should().Equal(1f, 0.25f, 0.25f);
        FactorMap.ColorOf(0, 6).Should().Be((1f, 0f, 0f));
        FactorMap.ColorOf(3, 6).Should().Be((0f, 1f, 1f));
        FluentActions.Invoking(() => FactorMap.Render(zeros(2, 3), 4, 4)).Should().Throw<CircuitsException>().WithMessage("*k x h x w*");
    }

    [Fact]
    public void An_unfitted_reducer_and_wrong_channel_counts_are_refused()
    {
        using var reducer = new ChannelReducer(2, ReductionMethod.Pca);
        FluentActions.Invoking(() => reducer.Transform(zeros(1, 4, 2, 2))).Should().Throw<CircuitsException>().WithMessage("*not fitted*");
        reducer.Fit(rand(10, 4));
        FluentActions.Invoking(() => reducer.Transform(zeros(1, 5, 2, 2))).Should().Throw<CircuitsException>().WithMessage("*5 channels*fitted to 4*");
        FluentActions.Invoking(() => new ChannelReducer(0)).Should().Throw<CircuitsException>().WithMessage("*at least 1 component*");
        FluentActions.Invoking(() => new ChannelReducer(5).Fit(rand(10, 4))).Should().Throw<CircuitsException>().WithMessage("5 components cannot be drawn from 4 channels*");
    }
}
