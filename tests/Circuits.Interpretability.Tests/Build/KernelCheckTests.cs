using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Build;

/// <summary>
/// The kernel check of the backend gate: libtorch's convolutions against plain loops, oneDNN turned off when they are
/// wrong, and a clear exception when that does not help. The repair and the exception are driven with fake checks;
/// the real check runs on this machine, whatever its processor, and must end with right kernels.
/// </summary>
public sealed class KernelCheckTests
{
    private static KernelCheck.Outcome Good(string name) => new(name, 1e-7);

    private static KernelCheck.Outcome Bad(string name, double error) => new(name, error);

    [Fact]
    public void After_the_gate_every_checked_convolution_equals_its_loop_on_this_machine()
    {
        TorchBackend.EnsureAvailable();
        IReadOnlyList<KernelCheck.Outcome> outcomes = KernelCheck.Run();
        outcomes.Should().HaveCount(7);
        outcomes.Should().OnlyContain(o => !o.Failed, TorchBackend.KernelWorkaround ?? "no workaround was applied");
        outcomes.Should().OnlyContain(o => o.Error < 1e-5, "float against double on sums of at most 400 terms");
    }

    [Fact]
    public void A_transposed_convolution_with_stride_one_and_no_padding_equals_the_adjoint_loop()
    {
        // The case that was wrong on a virtual machine whose oneDNN kernels misbehaved, run through TorchSharp as the
        // kernel composition runs it, and compared with the inner product identity <conv(x), g> = <x, conv_T(g)>.
        TorchBackend.EnsureAvailable();
        var random = new Random(11);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)((2 * random.NextDouble()) - 1)).ToArray();
        using var scope = NewDisposeScope();
        Tensor w = tensor(Values(6 * 4 * 3 * 3), new long[] { 6, 4, 3, 3 });
        Tensor g = tensor(Values(2 * 6 * 5 * 5), new long[] { 2, 6, 5, 5 });
        Tensor x = tensor(Values(2 * 4 * 9 * 9), new long[] { 2, 4, 9, 9 });
        Tensor y = nn.functional.conv2d(x, w, null, new long[] { 1, 1 }, new long[] { 0, 0 }, new long[] { 2, 2 });
        Tensor transposed = nn.functional.conv_transpose2d(g, w, null, new long[] { 1, 1 }, new long[] { 0, 0 }, new long[] { 0, 0 }, new long[] { 2, 2 }, 1);
        transposed.shape.Should().Equal(2, 4, 9, 9);
        double left = y.to(float64).mul(g.to(float64)).sum().item<double>();
        double right = x.to(float64).mul(transposed.to(float64)).sum().item<double>();
        right.Should().BeApproximately(left, 1e-4 * Math.Max(1, Math.Abs(left)));
    }

    [Fact]
    public void Right_kernels_change_nothing()
    {
        int switched = 0;
        TorchBackendException? failure = TorchBackend.CheckKernels(() => new[] { Good("a"), Good("b") }, _ => { switched++; return true; }, out string? workaround);
        failure.Should().BeNull();
        workaround.Should().BeNull();
        switched.Should().Be(0);
    }

    [Fact]
    public void Wrong_kernels_turn_oneDnn_off_and_are_checked_again()
    {
        var calls = new List<bool>();
        bool enabled = true;
        IReadOnlyList<KernelCheck.Outcome> Run() => enabled ? new[] { Good("a"), Bad("conv_transpose2d of a small map", 6.4) } : new[] { Good("a"), Good("conv_transpose2d of a small map") };
        TorchBackendException? failure = TorchBackend.CheckKernels(Run, on => { calls.Add(on); enabled = on; return true; }, out string? workaround);
        failure.Should().BeNull();
        calls.Should().Equal(false);
        workaround.Should().Contain("oneDNN").And.Contain("conv_transpose2d of a small map is off by 6.4");
    }

    [Fact]
    public void Kernels_still_wrong_without_oneDnn_throw_a_clear_exception_and_restore_the_switch()
    {
        var calls = new List<bool>();
        TorchBackendException? failure = TorchBackend.CheckKernels(() => new[] { Bad("conv2d of a 2 x 16 x 14 x 14 map", double.NaN) }, on => { calls.Add(on); return true; }, out string? workaround);
        workaround.Should().BeNull();
        calls.Should().Equal(false, true);
        failure.Should().NotBeNull();
        failure!.Problem.Should().Be(TorchBackendProblem.WrongKernelResults);
        failure.Message.Should().Contain("conv2d of a 2 x 16 x 14 x 14 map is off by NaN")
            .And.Contain("with oneDNN turned off")
            .And.Contain("DNNL_MAX_CPU_ISA=AVX")
            .And.Contain(TorchBackend.KernelCheckVariable + "=off");
    }

    [Fact]
    public void When_oneDnn_cannot_be_switched_the_wrong_kernels_throw()
    {
        TorchBackendException? failure = TorchBackend.CheckKernels(() => new[] { Bad("x", 0.5), Bad("y", 2) }, _ => false, out _);
        failure.Should().NotBeNull();
        failure!.Message.Should().Contain("2 checked convolutions are wrong, the worst: y is off by 2").And.NotContain("with oneDNN turned off");
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(9e-4, false)]
    [InlineData(2e-3, true)]
    [InlineData(double.NaN, true)]
    [InlineData(double.PositiveInfinity, true)]
    public void An_outcome_fails_above_one_in_a_thousand_or_when_not_a_number(double error, bool failed) =>
        new KernelCheck.Outcome("case", error).Failed.Should().Be(failed);

    [Fact]
    public void The_oneDnn_switch_is_found_in_libtorch_on_this_platform()
    {
        TorchBackend.EnsureAvailable();
        bool? state = OneDnnSwitch.TryGet();
        state.Should().NotBeNull("libtorch exports at::globalContext and at::Context::userEnabledMkldnn");
        bool turnedOff = TorchBackend.KernelWorkaround?.Contains("oneDNN CPU kernels are turned off", StringComparison.Ordinal) ?? false;
        state.Should().Be(!turnedOff, "oneDNN is on unless the check turned it off");
    }
}
