using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class RenderTests
{
    /// <summary>Reports progress synchronously on the render's own thread (Progress&lt;T&gt; would post elsewhere).</summary>
    private sealed class Recorder<T> : IProgress<T>
    {
        private readonly Action<T> _onReport;

        public Recorder(Action<T> onReport) => _onReport = onReport;

        public void Report(T value) => _onReport(value);
    }

    /// <summary>
    /// A conv unit with a fixed 7 x 7 filter that prefers a vertical red bar on a dark background: +1 on the
    /// red channel of the middle column, -0.4 on the red channel elsewhere, -0.5 on green and blue everywhere.
    /// </summary>
    private static (TorchSharp.Modules.Sequential Model, Tensor Pattern) RedBarDetector()
    {
        var pattern = zeros(3, 7, 7);
        pattern[0] = full(7, 7, -0.4f);
        pattern[0, TensorIndex.Colon, 3] = ones(7);
        pattern[1] = full(7, 7, -0.5f);
        pattern[2] = full(7, 7, -0.5f);
        var conv = nn.Conv2d(3, 1, 7);
        using (no_grad())
        {
            conv.weight!.copy_(pattern.unsqueeze(0));
            conv.bias!.zero_();
        }

        return (nn.Sequential(("bar", conv), ("relu", nn.ReLU())), pattern);
    }

    private static double Correlation(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        Tensor x = a.flatten().to(ScalarType.Float64);
        Tensor y = b.flatten().to(ScalarType.Float64);
        x = x - x.mean();
        y = y - y.mean();
        return (x.dot(y) / (x.norm() * y.norm())).item<double>();
    }

    [Fact]
    public void Rendering_a_fixed_filter_unit_recovers_its_preferred_pattern()
    {
        var (model, pattern) = RedBarDetector();
        using (model)
        using (pattern)
        using (var result = FeatureVisualization.Render(model, Objectives.Neuron("bar:0@3,3"),
            new RenderOptions { Steps = 64, ImageSize = 13, Transforms = Array.Empty<IImageTransform>(), Seed = 1 }))
        {
            // The unit at (3, 3) of the 7 x 7 conv sees rows and columns 3..9 of the 13 x 13 image.
            Tensor window = result.Images[0, TensorIndex.Colon, TensorIndex.Slice(3, 10), TensorIndex.Slice(3, 10)];
            double rendered = Correlation(window, pattern);
            using Tensor noise = rand(new long[] { 3, 7, 7 }, generator: new Generator(2));
            double random = Correlation(noise, pattern);

            rendered.Should().BeGreaterThan(0.8, "the render should reproduce the filter's bar");
            random.Should().BeLessThan(0.3);
            (rendered - random).Should().BeGreaterThan(0.5);
        }
    }

    [Theory]
    [InlineData("channel")]
    [InlineData("neuron")]
    [InlineData("direction")]
    public void The_objective_rises_over_the_optimization(string kind)
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        using Tensor direction = linspace(-1, 1, 16);
        Objective objective = kind switch
        {
            "channel" => Objectives.Channel("features.conv2:3"),
            "neuron" => Objectives.Neuron("features.conv2:3"),
            _ => Objectives.Direction("features.conv2", direction),
        };

        using var result = FeatureVisualization.Render(model, objective, new RenderOptions { Steps = 96, ImageSize = 32 });

        result.ObjectiveHistory.Should().HaveCount(96);
        double start = result.ObjectiveHistory.Take(4).Average();
        double middle = result.ObjectiveHistory.Skip(40).Take(8).Average();
        double end = result.ObjectiveHistory.TakeLast(8).Average();
        middle.Should().BeGreaterThan(start);
        end.Should().BeGreaterThan(middle);
        end.Should().BeGreaterThan(start + 0.08);
        result.Images.shape.Should().Equal(1, 3, 32, 32);
    }

    [Fact]
    public void Diversity_makes_the_batch_less_similar()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        var options = new RenderOptions { Steps = 64, ImageSize = 32, BatchSize = 4 };
        Objective unit = Objectives.Channel("features.conv2:3");

        (double Gram, double Pixels) Similarity(Objective objective)
        {
            using var result = FeatureVisualization.Render(model, objective, options);
            using var acts = ActivationCapture.Capture(model, result.Images, new[] { "features.relu2" });
            using var scope = NewDisposeScope();
            double gram = Objectives.Diversity("features.relu2")
                .Evaluate(new RenderContext(result.Images, acts.ToDictionary(kv => kv.Key, kv => kv.Value))).item<float>();
            double pixels = (result.Images.unsqueeze(0) - result.Images.unsqueeze(1)).abs().mean().item<float>();
            return (gram, pixels);
        }

        var plain = Similarity(unit);
        var diverse = Similarity(unit - (100 * Objectives.Diversity("features.relu2")));

        // Without diversity the four items start from nearly the same noise and converge to the same image.
        diverse.Gram.Should().BeLessThan(plain.Gram - 0.1, $"the summed Gram similarity should drop (plain {plain.Gram:F3}, diverse {diverse.Gram:F3})");
        diverse.Pixels.Should().BeGreaterThan(5 * plain.Pixels, $"the images should differ (plain {plain.Pixels:F4}, diverse {diverse.Pixels:F4})");
    }

    [Fact]
    public void The_same_seed_gives_the_same_image_bit_for_bit()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        var options = new RenderOptions { Steps = 12, ImageSize = 40, Seed = 7 };
        using var a = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:1"), options);
        using var b = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:1"), options);
        using var c = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:1"), options with { Seed = 8 });

        HandBuiltNet.Values(a.Images).Should().Equal(HandBuiltNet.Values(b.Images));
        a.ObjectiveHistory.Should().Equal(b.ObjectiveHistory);
        HandBuiltNet.Values(a.Images).Should().NotEqual(HandBuiltNet.Values(c.Images));
    }

    [Fact]
    public void A_batch_renders_different_units_at_once_and_keeps_snapshots()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        Objective objective = Objectives.ChannelsInBatch("features.conv2", new[] { 0, 5, 9 });
        var forwards = 0;
        using var counter = ActivationCapture.Attach(model, new[] { "features.conv1" }, new CaptureOptions { RequireAllLayers = false });
        using var hook = InterventionScope.Apply(model, Intervention.Custom("features.conv1", x => { forwards++; return x; }));

        using var result = FeatureVisualization.Render(model, objective, new RenderOptions { Steps = 10, ImageSize = 24, BatchSize = 3, Thresholds = new[] { 5, 10 } });

        result.Images.shape.Should().Equal(3, 3, 24, 24);
        // One forward pass per step renders all three units; in the first step the first image goes alone while its
        // activations are measured to size the parts (RenderOptions.MicroBatch), and the other two follow together.
        forwards.Should().Be(11);
        result.Snapshots.Select(s => s.Step).Should().Equal(5, 10);
        objective.Name.Should().Be("channel(features.conv2:0)[batch 0] + channel(features.conv2:5)[batch 1] + channel(features.conv2:9)[batch 2]");
    }

    [Fact]
    public void Transparent_renders_make_the_preferred_pattern_opaque_and_leave_the_rest_alone()
    {
        var (model, _) = RedBarDetector();
        using (model)
        {
            // A 21 x 21 image: the centre neuron of the 7 x 7 conv sees rows and columns 7..13. The model is fed
            // the RGBA image composited over fresh random noise each step, so only opaque pixels can drive it.
            using var result = FeatureVisualization.Render(model, Objectives.Neuron("bar:0"), new RenderOptions
            {
                Steps = 96,
                ImageSize = 21,
                Seed = 3,
                Transforms = Array.Empty<IImageTransform>(),
                Parameterization = (n, h, w, seed) => new PixelImage(n, h, w, seed, new ParameterizationOptions { Alpha = true }),
            });

            result.Images.shape.Should().Equal(1, 4, 21, 21);
            Tensor alpha = result.Images[0, 3];
            double barColumn = alpha[TensorIndex.Slice(7, 14), 10].mean().item<float>();
            double outside = alpha[TensorIndex.Slice(0, 5), TensorIndex.Slice(0, 5)].mean().item<float>();
            barColumn.Should().BeGreaterThan(0.8, "the red bar in the receptive field must become opaque");
            outside.Should().BeApproximately(0.5, 0.05, "pixels the neuron cannot see get no gradient and keep their initial alpha");
            result.ObjectiveHistory[^1].Should().BeGreaterThan(result.ObjectiveHistory[0]);
        }
    }

    [Fact]
    public void An_objective_on_a_dead_relu_output_comes_alive_only_with_redirection()
    {
        // The bar detector with a bias of +28: its response to the initial near-grey image is about -1.4 everywhere,
        // so its ReLU output is exactly 0 and the ordinary gradient of channel(relu:0) is zero. The objective reads
        // the ReLU module's own output, the case where the redirection must be in place before the objective's tap.
        var (model, _) = RedBarDetector();
        using (model)
        {
            using (no_grad())
            {
                ((TorchSharp.Modules.Conv2d)ModelLayers.Find(model, "bar")).bias!.fill_(28f);
            }

            var options = new RenderOptions { Steps = 24, ImageSize = 24, Seed = 2, Transforms = Array.Empty<IImageTransform>() };
            using var dead = FeatureVisualization.Render(model, Objectives.Channel("relu:0"), options with { RedirectReluSteps = 0 });
            using var redirected = FeatureVisualization.Render(model, Objectives.Channel("relu:0"), options with { RedirectReluSteps = 16 });

            dead.ObjectiveHistory.Should().OnlyContain(v => v == 0, "without redirection a dead ReLU passes no gradient");
            redirected.ObjectiveHistory[0].Should().Be(0);
            redirected.FinalObjective.Should().BeGreaterThan(1, "the redirected gradient revives the unit through the ReLU the objective reads, and it keeps rising on its own");
        }
    }

    [Fact]
    public void The_model_is_left_as_it_was()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        model.train();
        var before = model.parameters().Select(p => HandBuiltNet.Values(p)).ToList();

        using var result = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:2"), new RenderOptions { Steps = 5, ImageSize = 24 });

        model.training.Should().BeTrue();
        model.parameters().Should().OnlyContain(p => p.requires_grad);
        model.parameters().Count(p => p.grad is not null).Should().Be(0);
        model.parameters().Select(p => HandBuiltNet.Values(p)).Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
        HandBuiltNet.HookCount(ModelLayers.Find(model, "features.conv3")).Should().Be(0);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "features.relu1")).Should().Be(0);
    }

    [Fact]
    public void Progress_is_reported_every_step_and_cancellation_stops_the_render()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        using var cancel = new CancellationTokenSource();
        var steps = new List<int>();
        var progress = new Recorder<RenderProgress>(p =>
        {
            steps.Add(p.Step);
            if (p.Step == 3)
            {
                cancel.Cancel();
            }
        });

        var act = () => FeatureVisualization.Render(model, Objectives.Channel("features.conv1:0"), new RenderOptions { Steps = 50, ImageSize = 24 }, progress, cancel.Token);

        act.Should().Throw<OperationCanceledException>();
        steps.Should().Equal(1, 2, 3);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "features.conv1")).Should().Be(0);
    }

    [Fact]
    public void Bad_requests_are_clear_errors()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        FluentActions.Invoking(() => FeatureVisualization.Render(model, Objectives.Channel("features.conv9:0"), new RenderOptions { Steps = 1 }))
            .Should().Throw<UnknownLayerException>().WithMessage("Unknown layer 'features.conv9'*");
        FluentActions.Invoking(() => FeatureVisualization.Render(model, Objectives.Channel("features.conv1:0", batch: 2), new RenderOptions { Steps = 1, BatchSize = 2 }))
            .Should().Throw<UnitOutOfRangeException>().WithMessage("*targets batch item 2, but the batch size is 2*");
        FluentActions.Invoking(() => FeatureVisualization.Render(model, Objectives.Channel("features.conv1:99"), new RenderOptions { Steps = 1, ImageSize = 16 }))
            .Should().Throw<UnitOutOfRangeException>().WithMessage("Channel 99 is out of range for layer 'features.conv1', which has 8 channels*");
    }

    [Fact]
    public void Objective_names_read_as_written()
    {
        Objective o = Objectives.Channel("mixed4a:10") - (0.5 * Objectives.Diversity("mixed4a"));
        o.Name.Should().Be("channel(mixed4a:10) - 0.5 * diversity(mixed4a)");
        (-(Objectives.Neuron("a:1@2,3") + Objectives.Layer("b"))).Name.Should().Be("-(neuron(a:1@2,3) + layer(b))");
        (Objectives.ClassLogit(7) / 2).Name.Should().Be("0.5 * class(7)");
        (Objectives.Channel("l:0") - (Objectives.L1() + Objectives.TotalVariation())).Name.Should().Be("channel(l:0) - (l1(image) + total_variation(image))");
    }

    [Fact]
    public void Penalties_match_their_definitions_on_a_known_image()
    {
        using Tensor image = tensor(new float[] { 0, 1, 1, 0 }).reshape(1, 1, 2, 2).expand(1, 3, 2, 2).contiguous();
        var ctx = new RenderContext(image, new Dictionary<string, Tensor>());
        Objectives.L1(0.5).Evaluate(ctx).item<float>().Should().BeApproximately(12 * 0.5f, 1e-6f);
        Objectives.L2(0.5).Evaluate(ctx).item<float>().Should().BeApproximately((float)Math.Sqrt((12 * 0.25) + 1e-6), 1e-5f);
        // Per channel: vertical |1-0| + |0-1| = 2, horizontal 2: 4 per channel, 12 in all.
        Objectives.TotalVariation().Evaluate(ctx).item<float>().Should().BeApproximately(12, 1e-6f);
    }

    [Fact]
    public void Redirected_relu_lets_a_gradient_reach_a_dead_unit()
    {
        // A unit that is negative everywhere gets no gradient through a plain ReLU; the redirected gradient
        // moves it up. After the redirect steps, it behaves as a plain ReLU.
        // The render minimizes loss = -objective. With loss = -sum(relu(x)) at x = -1, descent (x -= grad)
        // raises x: the redirected gradient is -1 where the plain ReLU gradient is 0.
        Tensor x = full(1, 1, 2, 2, -1f).requires_grad_(true);
        (-RedirectedRelu.apply(x)).sum().backward();
        HandBuiltNet.Values(x.grad!).Should().OnlyContain(g => g == -1f);

        Tensor y = tensor(new float[] { -1, 2 }).reshape(1, 2).requires_grad_(true);
        RedirectedRelu.apply(y).sum().backward();
        HandBuiltNet.Values(y.grad!).Should().Equal(new[] { 0f, 1f }, "where the ordinary gradient is alive, it is used as is");

        // With loss = +sum(relu(x)) at x = -1, descent would push x further down: that gradient is dropped.
        Tensor z = full(1, 2, -1f).requires_grad_(true);
        RedirectedRelu.apply(z).sum().backward();
        HandBuiltNet.Values(z.grad!).Should().Equal(new[] { 0f, 0f });
    }
}
