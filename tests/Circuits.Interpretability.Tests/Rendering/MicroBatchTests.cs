using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class MicroBatchTests
{
    private static Objective PerItemObjective() =>
        Objectives.ChannelsInBatch("features.conv2", new[] { 0, 3, 5, 1 }) - (0.01 * Objectives.TotalVariation()) + Objectives.Channel("features.conv3:2");

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_step_in_parts_gives_the_whole_batch_gradient(int part)
    {
        using var model = new SmallConvNet(seed: 6, width: 8);
        Objective objective = PerItemObjective();
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = objective.Layers.ToList(), KeepGraph = true });
        using var image = new FourierImage(4, 32, 32, seed: 2);
        Tensor spectrum = image.Parameters[0];

        double wholeValue;
        Tensor whole;
        using (NewDisposeScope())
        {
            Tensor current = image.Image();
            using CaptureResult taps = run.Run(Transforms.Rotate(current, 5));
            Tensor value = objective.Evaluate(new RenderContext(current, taps, taps.Output));
            value.neg().backward();
            wholeValue = value.item<float>();
        }

        whole = spectrum.grad!.clone();
        spectrum.grad!.zero_();
        double partsValue;
        using (NewDisposeScope())
        {
            Tensor current = image.Image();
            partsValue = new MicroBatching(model, objective, 4, part).Step(run, current, Transforms.Rotate(current, 5));
        }

        float[] a = HandBuiltNet.Values(whole), b = HandBuiltNet.Values(spectrum.grad!);
        float scale = a.Max(Math.Abs);
        scale.Should().BeGreaterThan(0);
        a.Zip(b).Max(p => Math.Abs(p.First - p.Second)).Should().BeLessThan(1e-5f * scale, "the parts' gradients are the whole batch's");
        partsValue.Should().BeApproximately(wholeValue, 1e-5 * Math.Max(1, Math.Abs(wholeValue)));
    }

    [Fact]
    public void A_render_in_parts_runs_the_same_optimization()
    {
        // Adam turns rounding-level differences of near-zero gradients into step-sized ones, so whole renders are compared
        // by their objective, not bit for bit; the gradient test above checks the arithmetic.
        using var model = new SmallConvNet(seed: 6, width: 8);
        var options = new RenderOptions { Steps = 8, ImageSize = 32, BatchSize = 4, Seed = 3, RedirectReluSteps = 3 };

        using var whole = FeatureVisualization.Render(model, PerItemObjective(), options with { MicroBatch = 4 });
        using var parts = FeatureVisualization.Render(model, PerItemObjective(), options with { MicroBatch = 1 });

        parts.ObjectiveHistory[0].Should().BeApproximately(whole.ObjectiveHistory[0], 1e-4 * Math.Abs(whole.ObjectiveHistory[0]));
        parts.FinalObjective.Should().BeApproximately(whole.FinalObjective, 0.02 * Math.Abs(whole.FinalObjective));
        parts.FinalObjective.Should().NotBe(parts.ObjectiveHistory[0], "the image changed");
    }

    [Fact]
    public void Batch_wide_objectives_always_see_the_whole_batch()
    {
        using var model = new SmallConvNet(seed: 6, width: 8);
        Objective diverse = Objectives.ChannelsInBatch("features.conv2", new[] { 0, 1, 2 }) - Objectives.Diversity("features.conv2");
        var options = new RenderOptions { Steps = 3, ImageSize = 24, BatchSize = 3 };

        using var a = FeatureVisualization.Render(model, diverse, options with { MicroBatch = 1 });
        using var b = FeatureVisualization.Render(model, diverse, options);

        HandBuiltNet.Values(a.Images).Should().Equal(HandBuiltNet.Values(b.Images));
        diverse.PerItem.Should().BeFalse();
        PerItemObjective().PerItem.Should().BeTrue();
    }

    [Fact]
    public void The_automatic_part_size_follows_one_items_activation_memory()
    {
        Objective objective = Objectives.ChannelsInBatch("features.conv3", Enumerable.Range(0, 8).ToArray());
        MicroBatching.SizeFor(1000, 8).Should().Be(8);
        MicroBatching.SizeFor(MicroBatching.BudgetBytes / 3, 8).Should().Be(3);
        MicroBatching.SizeFor(MicroBatching.BudgetBytes * 5, 8).Should().Be(1);

        // The first part of the first step is one item, measured: the leaf outputs of SmallConvNet(width 4) at 16 x 16
        // up to conv3 (conv1, relu1: 4 x 16 x 16; pool1: 4 x 8 x 8; conv2, relu2: 8 x 8 x 8; pool2: 8 x 4 x 4; conv3: 16 x 4 x 4).
        using var small = new SmallConvNet(seed: 1, width: 4);
        long expected = 4 * ((2 * 4 * 16 * 16) + (4 * 8 * 8) + (2 * 8 * 8 * 8) + (8 * 4 * 4) + (16 * 4 * 4));
        var batching = new MicroBatching(small, objective, 8, null);
        batching.PartSize.Should().BeNull();
        using (var run = ForwardRun.Attach(small, new ForwardRunOptions { Taps = new[] { "features.conv3" }, Edits = batching.Edits, KeepGraph = true }))
        using (var image = new FourierImage(8, 16, 16))
        using (NewDisposeScope())
        {
            Tensor current = image.Image();
            batching.Step(run, current, current);
        }

        batching.MeasuredBytes.Should().Be(expected);
        batching.PartSize.Should().Be(8);
        new MicroBatching(small, objective, 8, 3).PartSize.Should().Be(3);
        new MicroBatching(small, Objectives.Diversity("features.conv3"), 8, 3).PartSize.Should().Be(8, "a batch-wide objective needs the whole batch");
        FluentActions.Invoking(() => FeatureVisualization.Render(small, objective, new RenderOptions { BatchSize = 8, MicroBatch = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*MicroBatch is 0*");
    }
}
