using System.Text.Json;
using System.Xml.Linq;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Numerics;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

[Collection(SequentialCircuitsCollection.Name)]
public class CircuitGraphTests
{
    /// <summary>
    /// input (3 ch) -> conv1 (1x1, 4 ch) -> relu -> conv2 (1x1, 3 ch), weights set by hand, random biases.
    /// conv2:0 takes conv1 channels with weights [0.1, -2, 0.5, 1]: top 2 are channel 1 (-2) and 3 (1).
    /// conv1:1 takes inputs [3, 0.2, -0.1]; conv1:3 takes [0, -0.5, 4].
    /// </summary>
    private static Sequential Designed()
    {
        var conv1 = nn.Conv2d(3, 4, 1);
        var conv2 = nn.Conv2d(4, 3, 1);
        var model = nn.Sequential(("input", nn.Identity()), ("conv1", conv1), ("relu", nn.ReLU()), ("conv2", conv2));
        SeededInitialization.Apply(model, 5);
        using (no_grad())
        {
            conv1.weight!.copy_(tensor(new float[] { 1, 1, 1, 3, 0.2f, -0.1f, 0, 0, 0, 0, -0.5f, 4 }).reshape(4, 3, 1, 1));
            conv2.weight!.copy_(tensor(new float[] { 0.1f, -2, 0.5f, 1, 0, 0, 0, 0, 0, 0, 0, 0 }).reshape(3, 4, 1, 1));
        }

        return model;
    }

    [Fact]
    public void Graph_follows_the_strongest_inputs_back()
    {
        var graph = CircuitGraph.Build(Designed(), "conv2:0", new[] { "conv1", "input" }, new long[] { 3, 5, 5 }, new CircuitGraphOptions { TopK = 2, CropSize = 1 });

        graph.Nodes.Select(n => n.Id).Should().Equal("conv2:0", "conv1:1", "conv1:3", "input:0", "input:1", "input:2");
        graph.Edges.Select(e => (e.Source, e.Target)).Should().Equal(
            ("conv1:1", "conv2:0"), ("conv1:3", "conv2:0"), ("input:0", "conv1:1"), ("input:1", "conv1:1"), ("input:2", "conv1:3"), ("input:1", "conv1:3"));
        var strengths = graph.Edges.Select(e => e.Strength).ToArray();
        var sums = graph.Edges.Select(e => e.Sum).ToArray();
        strengths.Should().Equal(new[] { 2, 1, 3, 0.2, 4, 0.5 }, (a, b) => Math.Abs(a - b) < 1e-5);
        sums.Should().Equal(new[] { -2, 1, 3, 0.2, 4, -0.5 }, (a, b) => Math.Abs(a - b) < 1e-5);
        graph.Edges[0].Weights.Should().HaveCount(1).And.Subject.Single().Should().HaveCount(1);
    }

    [Fact]
    public void A_graph_from_weights_computed_already_equals_the_one_built_from_the_model()
    {
        var model = Designed();
        var built = CircuitGraph.Build(model, "conv2:0", new[] { "conv1", "input" }, new long[] { 3, 5, 5 }, new CircuitGraphOptions { TopK = 2, CropSize = 1 });
        using var near = ExpandedWeights.Compute(model, "conv1", "conv2", new long[] { 3, 5, 5 }, new ExpandedWeightsOptions { CropSize = 1 });
        using var far = ExpandedWeights.Compute(model, "input", "conv1", new long[] { 3, 5, 5 }, new ExpandedWeightsOptions { CropSize = 1, TargetChannels = new[] { 3, 1 } });

        var fromWeights = CircuitGraph.FromWeights("conv2:0", new[] { near, far }, topK: 2);

        fromWeights.Nodes.Should().Equal(built.Nodes);
        fromWeights.Edges.Select(e => (e.Source, e.Target, e.Strength, e.Sum)).Should().Equal(built.Edges.Select(e => (e.Source, e.Target, e.Strength, e.Sum)));
        fromWeights.Nodes.Should().HaveCount(6);

        // Sets that do not chain back from the target, or lack a channel the graph reaches, are named.
        FluentActions.Invoking(() => CircuitGraph.FromWeights("conv2:0", new[] { far })).Should().Throw<CircuitsException>().WithMessage("*'input' to 'conv1'*expected weights into 'conv2'*");
        using var narrow = ExpandedWeights.Compute(model, "input", "conv1", new long[] { 3, 5, 5 }, new ExpandedWeightsOptions { CropSize = 1, TargetChannels = new[] { 1 } });
        FluentActions.Invoking(() => CircuitGraph.FromWeights("conv2:0", new[] { near, narrow }, topK: 2)).Should().Throw<CircuitsException>().WithMessage("*lack target channel(s) 3*");
        FluentActions.Invoking(() => CircuitGraph.FromWeights("conv2:0", new[] { near }, topK: 0)).Should().Throw<CircuitsException>().WithMessage("*TopK 0*");
    }

    [Fact]
    public void Building_reports_progress_per_layer_and_stops_when_cancelled()
    {
        var reports = new List<CircuitGraphProgress>();
        var progress = new SynchronousProgress<CircuitGraphProgress>(reports.Add);
        CircuitGraph.Build(Designed(), "conv2:0", new[] { "conv1", "input" }, new long[] { 3, 5, 5 }, new CircuitGraphOptions { TopK = 2, CropSize = 1 }, progress);

        reports.Select(r => (r.Layer, r.Layers, r.SourceLayer)).Distinct().Should().Equal((0, 2, "conv1"), (1, 2, "input"));
        reports.Should().OnlyContain(r => r.Step.Done >= 1 && r.Step.Done <= r.Step.Total);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        FluentActions.Invoking(() => CircuitGraph.Build(Designed(), "conv2:0", new[] { "conv1" }, new long[] { 3, 5, 5 }, null, null, cancelled.Token))
            .Should().Throw<OperationCanceledException>();
    }

    [Fact]
    public void Graph_exports_to_json_dot_and_graphml()
    {
        var graph = CircuitGraph.Build(Designed(), "conv2:0", new[] { "conv1" }, new long[] { 3, 7, 7 }, new CircuitGraphOptions { TopK = 2, CropSize = 3 });

        string json = graph.ToJson();
        using (var doc = JsonDocument.Parse(json))
        {
            doc.RootElement.GetProperty("nodes").GetArrayLength().Should().Be(3);
            doc.RootElement.GetProperty("edges")[0].GetProperty("source").GetString().Should().Be("conv1:1");
            doc.RootElement.GetProperty("edges")[0].GetProperty("weights")[1][1].GetDouble().Should().BeApproximately(-2, 1e-5);
        }

        var back = CircuitGraph.FromJson(json);
        back.Nodes.Should().Equal(graph.Nodes);
        back.Edges.Select(e => (e.Source, e.Target, e.Strength, e.Sum)).Should().Equal(graph.Edges.Select(e => (e.Source, e.Target, e.Strength, e.Sum)));

        string dot = graph.ToDot();
        dot.Should().StartWith("digraph circuit {").And.Contain("\"conv1:1\" -> \"conv2:0\"").And.Contain("#c0392b").And.Contain("#1f5fbf");

        XDocument graphml = XDocument.Parse(graph.ToGraphML());
        XNamespace ns = "http://graphml.graphdrawing.org/xmlns";
        graphml.Descendants(ns + "node").Should().HaveCount(3);
        graphml.Descendants(ns + "edge").Select(e => (string?)e.Attribute("source")).Should().Equal("conv1:1", "conv1:3");

        FluentActions.Invoking(() => CircuitGraph.FromJson("[1, 2]")).Should().Throw<CircuitsException>().WithMessage("*not a circuit graph*");
        FluentActions.Invoking(() => CircuitGraph.Build(Designed(), "conv2", new[] { "conv1" }, new long[] { 3, 5, 5 })).Should().Throw<CircuitsException>().WithMessage("*'conv2' names no channel*");
    }

    [Fact]
    public void Weight_image_uses_two_colours_scaled_by_magnitude()
    {
        var map = tensor(new float[] { 2, 0, -1, -2 }).reshape(2, 2);
        Tensor image = WeightImage.Render(map, scale: 3);

        image.shape.Should().Equal(1, 3, 6, 6);
        float[] Pixel(int y, int x) => Enumerable.Range(0, 3).Select(c => image[0, c, y, x].item<float>()).ToArray();
        var p = WeightImage.PositiveColor;
        var n = WeightImage.NegativeColor;
        Pixel(0, 0).Should().Equal(new[] { p.R, p.G, p.B }, (a, b) => Math.Abs(a - b) < 1e-6);
        Pixel(2, 2).Should().Equal(new[] { p.R, p.G, p.B }, (a, b) => Math.Abs(a - b) < 1e-6); // same 3x3 block
        Pixel(0, 3).Should().Equal(new[] { 1f, 1f, 1f }, (a, b) => Math.Abs(a - b) < 1e-6);
        Pixel(3, 0).Should().Equal(new[] { 1 - ((1 - n.R) / 2), 1 - ((1 - n.G) / 2), 1 - ((1 - n.B) / 2) }, (a, b) => Math.Abs(a - b) < 1e-6);
        Pixel(5, 5).Should().Equal(new[] { n.R, n.G, n.B }, (a, b) => Math.Abs(a - b) < 1e-6);
        ImageIO.EncodePng(image).Should().NotBeEmpty();
    }

    [Fact]
    public void Nmf_recovers_a_rank_three_matrix_and_never_increases_the_error()
    {
        var random = new Random(1);
        var w0 = Matrix<double>.Build.Dense(30, 3, (_, _) => random.NextDouble());
        var h0 = Matrix<double>.Build.Dense(3, 12, (_, _) => random.NextDouble());
        var x = w0 * h0;
        NmfResult result = Nmf.Factorize(x, 3, iterations: 2000, seed: 7);

        // The reconstruction error, recomputed with plain loops.
        double error = 0, norm = 0;
        for (int r = 0; r < 30; r++)
        {
            for (int c = 0; c < 12; c++)
            {
                double v = 0;
                for (int f = 0; f < 3; f++)
                {
                    v += result.W[r, f] * result.H[f, c];
                }

                error += (x[r, c] - v) * (x[r, c] - v);
                norm += x[r, c] * x[r, c];
            }
        }

        Math.Sqrt(error / norm).Should().BeLessThan(1e-2);
        result.Error.Should().BeApproximately(Math.Sqrt(error), 1e-9);
        result.ErrorHistory.Zip(result.ErrorHistory.Skip(1)).Should().OnlyContain(t => t.Second <= t.First * (1 + 1e-9));
        result.W.Enumerate().Should().OnlyContain(v => v >= 0);
        // Same seed, same factorization. Not to the last bit: libtorch's BLAS may pick another kernel for another buffer
        // alignment (one full run in many differed in the last bits), so compare to 1e-12 of the error.
        double first = Nmf.Factorize(x, 3, iterations: 50, seed: 7).Error;
        Nmf.Factorize(x, 3, iterations: 50, seed: 7).Error.Should().BeApproximately(first, 1e-12 * first);
        Nmf.Factorize(x, 3, iterations: 50, seed: 8).Error.Should().NotBe(first);
        FluentActions.Invoking(() => Nmf.Factorize(-x, 3)).Should().Throw<CircuitsException>().WithMessage("*non-negative*entry (0, 0)*");
    }

    [Fact]
    public void Nmf_colours_separate_sources_that_feed_different_targets()
    {
        // Targets 0, 1, 2 each read one different group of source channels: three factors, one per target.
        var conv = nn.Conv2d(6, 3, 3, padding: 1, bias: false);
        using (no_grad())
        {
            conv.weight!.zero_();
            conv.weight[0, 0].fill_(1);
            conv.weight[0, 1].fill_(0.5);
            conv.weight[1, 2].fill_(-1);
            conv.weight[1, 3].fill_(-2);
            conv.weight[2, 4].fill_(3);
            conv.weight[2, 5].fill_(1);
        }

        var model = nn.Sequential(("input", nn.Identity()), ("conv", conv));
        using var set = ExpandedWeights.Compute(model, "input", "conv", new long[] { 6, 7, 7 }, new ExpandedWeightsOptions { CropSize = 3 });
        WeightFactors factors = WeightImage.RenderNmf(set, scale: 2, iterations: 1000);

        factors.Images.shape.Should().Equal(3, 3, 6, 6);
        factors.Images.min().item<float>().Should().BeGreaterThanOrEqualTo(0);
        factors.Images.max().item<float>().Should().BeLessThanOrEqualTo(1);
        // Each target's centre pixel is dominated by one colour channel, a different one for each target.
        int[] dominant = Enumerable.Range(0, 3).Select(t => (int)factors.Images[t, TensorIndex.Colon, 2, 2].argmax().item<long>()).ToArray();
        string debug = string.Join(" / ", Enumerable.Range(0, 3).Select(t => string.Join(",", Enumerable.Range(0, 3).Select(c => factors.Images[t, c, 2, 2].item<float>().ToString("F3")))));
        dominant.Distinct().Should().HaveCount(3, debug);
        for (int t = 0; t < 3; t++)
        {
            Tensor centre = factors.Images[t, TensorIndex.Colon, 2, 2];
            centre.max().item<float>().Should().BeGreaterThan(0.5f);
            (centre.sum().item<float>() - centre.max().item<float>()).Should().BeLessThan(0.05f);
        }

        factors.SourceLoadings.RowCount.Should().Be(3);
        factors.SourceLoadings.ColumnCount.Should().Be(12);
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SynchronousProgress<T> : IProgress<T>
{
    private readonly Action<T> _report;

    public SynchronousProgress(Action<T> report) => _report = report;

    public void Report(T value) => _report(value);
}
