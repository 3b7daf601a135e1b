using Circuits.Interpretability.Activations;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Numerics;
using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Activations;

public class ActivationAtlasTests
{
    [Fact]
    public void Per_cell_averages_equal_a_naive_loop_over_the_samples()
    {
        var g = new Generator(9);
        Tensor layout = rand(new long[] { 200, 2 }, generator: g);
        Tensor acts = randn(new long[] { 200, 5 }, generator: g);

        using var grid = AtlasGrid.Build(layout, acts, columns: 4, rows: 3, minDensity: 10, normalize: false);

        float[] xy = layout.data<float>().ToArray();
        float[] a = acts.data<float>().ToArray();
        var naive = new Dictionary<(int, int), List<int>>();
        for (int i = 0; i < 200; i++)
        {
            var key = (Math.Min((int)(xy[2 * i] * 4), 3), Math.Min((int)(xy[(2 * i) + 1] * 3), 2));
            (naive.TryGetValue(key, out var list) ? list : naive[key] = new List<int>()).Add(i);
        }

        var expectedCells = naive.Where(kv => kv.Value.Count >= 10).OrderBy(kv => kv.Key.Item2).ThenBy(kv => kv.Key.Item1).ToList();
        grid.Cells.Select(c => (c.Column, c.Row, c.Count)).Should().Equal(expectedCells.Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value.Count)));
        for (int k = 0; k < expectedCells.Count; k++)
        {
            for (int c = 0; c < 5; c++)
            {
                double mean = expectedCells[k].Value.Average(i => (double)a[(i * 5) + c]);
                grid.Means[k, c].item<float>().Should().BeApproximately((float)mean, 1e-5f);
            }
        }

        FluentActions.Invoking(() => AtlasGrid.Build(layout, acts, 4, 3, minDensity: 500)).Should().Throw<CircuitsException>().WithMessage("No cell of the 4 x 3 grid has 500 samples*");
    }

    [Fact]
    public void Normalize_clips_outliers_like_captums_normalize_grid_and_scales_to_the_unit_square()
    {
        Tensor xy = stack(new[] { arange(0, 101, dtype: ScalarType.Float64), arange(0, 101, dtype: ScalarType.Float64).mul(2) }, 1);
        xy[100, 0] = tensor(10000.0);   // an outlier

        using Tensor n = AtlasGrid.Normalize(xy);

        n.min().item<double>().Should().Be(0);
        n.max().item<double>().Should().Be(1);
        // Axis 0: q01 = 1, q99 = 99 (linear interpolation; 10000 is the 101st value) -> clip to [1 - 9.8, 99 + 9.8].
        double hi = 99 + 9.8, lo = 0;   // 0 is inside [-8.8, ...], so the minimum is 0
        n[100, 0].item<double>().Should().BeApproximately(1, 1e-12, "the outlier is clipped to the margin");
        n[50, 0].item<double>().Should().BeApproximately((50 - lo) / (hi - lo), 1e-9);
    }

    [Fact]
    public void The_layout_keeps_clusters_of_activations_apart_so_grid_cells_hold_one_cluster_each()
    {
        var g = new Generator(12);
        Tensor centres = randn(new long[] { 3, 16 }, generator: g).mul(5).abs();
        Tensor samples = cat(Enumerable.Range(0, 3).Select(c => randn(new long[] { 40, 16 }, generator: g).mul(0.5).add(centres[c]).relu()).ToArray(), 0);

        using Tensor layout = ActivationAtlas.Layout(samples, new AtlasOptions { Layout = new TsneOptions { Perplexity = 10, Iterations = 400 } });
        using var grid = AtlasGrid.Build(layout, samples, 6, 6, minDensity: 2);

        grid.Cells.Should().NotBeEmpty();
        foreach (AtlasCell cell in grid.Cells)
        {
            cell.Members.Select(i => i / 40).Distinct().Should().HaveCount(1, $"cell ({cell.Column}, {cell.Row}) should hold one cluster");
        }

        grid.Cells.SelectMany(c => c.Members).Select(i => i / 40).Distinct().Should().HaveCount(3);
    }

    [Fact]
    public void Collect_takes_the_asked_positions_per_image()
    {
        var model = nn.Sequential(("conv", nn.Conv2d(3, 4, 1)));
        Tensor images = rand(new long[] { 3, 3, 5, 5 }, generator: new Generator(1));
        Tensor expected = model.call(images).detach().permute(0, 2, 3, 1).reshape(-1, 4);

        using Tensor all = ActivationAtlas.Collect(model, "conv", new[] { images }, new AtlasOptions { PositionsPerImage = 0 });
        using Tensor two = ActivationAtlas.Collect(model, "conv", new[] { images }, new AtlasOptions { PositionsPerImage = 2, Seed = 5 });

        (all - expected).abs().max().item<float>().Should().Be(0);
        two.shape.Should().Equal(6, 4);
        for (int i = 0; i < 6; i++)
        {
            // Each sample is one of its own image's 25 position vectors.
            Tensor image = expected.narrow(0, (i / 2) * 25, 25);
            image.sub(two[i]).abs().sum(1).min().item<float>().Should().Be(0);
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Each_cell_is_rendered_from_its_mean_direction_and_placed_at_its_cell()
    {
        // Units 0, 1, 2 read red, green and blue around mid-grey (x - 0.5): a cell whose mean is the red unit's
        // direction gets a red centre, and so on.
        var conv = nn.Conv2d(3, 3, 1);
        using (no_grad())
        {
            conv.weight!.copy_(eye(3).reshape(3, 3, 1, 1));
            conv.bias!.fill_(-0.5);
        }

        var model = nn.Sequential(("units", conv));
        Tensor layout = tensor(new[] { 0.1f, 0.1f, 0.9f, 0.1f, 0.1f, 0.9f }).reshape(3, 2);
        Tensor acts = eye(3);
        using var grid = AtlasGrid.Build(layout, acts, 2, 2, minDensity: 1, normalize: false);
        var icons = new List<Tensor>();

        using Tensor atlas = ActivationAtlas.Render(model, "units", grid,
            new AtlasOptions { Render = new RenderOptions { Steps = 48, ImageSize = 8, BatchSize = 2, Transforms = Array.Empty<IImageTransform>() } }, icons);

        atlas.shape.Should().Equal(3, 16, 16);
        icons.Should().HaveCount(3);
        grid.Cells.Select(c => (c.Column, c.Row)).Should().Equal((0, 0), (1, 0), (0, 1));
        // The default objective reads the centre position (direction_neuron): of the three icons, the one rendered from
        // direction k has the centre pixel that leans most toward colour k (its value minus the pixel's mean).
        float[][] centres = icons.Select(i => i[TensorIndex.Colon, 4, 4].data<float>().ToArray()).ToArray();
        for (int k = 0; k < 3; k++)
        {
            int colour = k;
            int reddest = Enumerable.Range(0, 3).MaxBy(i => centres[i][colour] - centres[i].Average());
            reddest.Should().Be(k, $"colour {k}; centres {string.Join(" / ", centres.Select(c => string.Join(",", c.Select(v => v.ToString("F2")))))}");
        }

        atlas[TensorIndex.Colon, TensorIndex.Slice(8, 16), TensorIndex.Slice(8, 16)].min().item<float>().Should().Be(1, "the empty cell stays white");
        (atlas[TensorIndex.Colon, TensorIndex.Slice(0, 8), TensorIndex.Slice(8, 16)] - icons[1]).abs().max().item<float>().Should().Be(0);
    }
}
