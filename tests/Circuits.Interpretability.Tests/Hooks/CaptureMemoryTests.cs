using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

/// <summary>
/// Long capture loops must not grow native memory. Each pass below captures about 6 MB of activations
/// (batch 8 at 64 x 64), so a leak of the captured tensors would add some 600 MB over 100 passes.
/// </summary>
[Collection(MemoryCollection.Name)]
public class CaptureMemoryTests
{
    private static readonly string[] Layers = { "features.conv1", "features.relu1", "features.conv2", "features.conv3", "head.fc" };

    internal static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Hundred_consecutive_captured_forward_passes_do_not_grow_native_memory(bool keepGraph)
    {
        using var model = new SmallConvNet(seed: 3, width: 16);
        using var input = rand(new long[] { 8, 3, 64, 64 }, generator: new Generator(5)).requires_grad_(keepGraph);
        using var capture = ActivationCapture.Attach(model, Layers, new CaptureOptions { KeepGraph = keepGraph });

        void Pass()
        {
            using var scope = NewDisposeScope();
            using var result = capture.Run(input);
            if (keepGraph)
            {
                result["features.conv2"].pow(2).sum().backward();
                input.grad!.zero_();
            }
            else
            {
                result["features.conv3"].sum().item<float>();
            }
        }

        for (int i = 0; i < 10; i++)
        {
            Pass();
        }

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssBefore = ResidentBytes();
        for (int i = 0; i < 100; i++)
        {
            Pass();
        }

        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long grown = ResidentBytes() - rssBefore;

        liveAfter.Should().Be(liveBefore, "every tensor a pass creates is disposed with it");
        grown.Should().BeLessThan(48L << 20, $"resident memory grew by {grown >> 20} MB over 100 passes; a leak would cost ~600 MB");
    }
}

/// <summary>Captured activations belong to the caller's dispose scope, whatever scopes the model's forward opens.</summary>
public class CaptureScopeTests
{
    /// <summary>A model whose forward runs its child inside its own dispose scope, as memory-careful models do.</summary>
    private sealed class ScopedForward : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear inner;

        public ScopedForward() : base(nameof(ScopedForward))
        {
            inner = nn.Linear(2, 2);
            using (no_grad())
            {
                inner.weight!.copy_(tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2));
                inner.bias!.zero_();
            }

            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            Tensor y = inner.call(input) * 2;
            return y.MoveToOuterDisposeScope();
        }
    }

    [Fact]
    public void Activations_survive_a_dispose_scope_inside_the_models_forward()
    {
        using var model = new ScopedForward();
        using var input = tensor(new float[] { 1, 1 }).reshape(1, 2);

        using var captured = ActivationCapture.Capture(model, input, new[] { "inner" });

        HandBuiltNet.Values(captured["inner"]).Should().Equal(3f, 7f);
        HandBuiltNet.Values(captured.Output!).Should().Equal(6f, 14f);
    }

    [Fact]
    public void Activations_captured_inside_a_callers_scope_are_freed_with_it()
    {
        using var model = new ScopedForward();
        using var input = tensor(new float[] { 1, 1 }).reshape(1, 2);
        Tensor activation;
        using (NewDisposeScope())
        {
            var captured = ActivationCapture.Capture(model, input, new[] { "inner" });
            activation = captured["inner"];
            HandBuiltNet.Values(activation).Should().Equal(3f, 7f);
        }

        activation.IsInvalid.Should().BeTrue("the caller's scope owns the captured tensors");
    }
}
