using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Build;

public class MallocSettingsTests
{
    private static bool TunedHere =>
        OperatingSystem.IsLinux()
        && System.Runtime.InteropServices.NativeLibrary.TryLoad("libc.so.6", out IntPtr libc)
        && System.Runtime.InteropServices.NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _)
        && !string.Equals(Environment.GetEnvironmentVariable(TorchBackend.AllocatorVariable), "system", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public void On_linux_with_glibc_the_backend_gate_tunes_malloc_and_says_so()
    {
        TorchBackend.EnsureAvailable();
        if (!TunedHere)
        {
            TorchBackend.AllocatorTuning.Should().BeNull("nothing is changed on other systems or when the variable says system");
            return;
        }

        TorchBackend.AllocatorTuning.Should().NotBeNull("this test machine runs glibc").And.Contain(TorchBackend.AllocatorVariable + "=system");
    }
}
