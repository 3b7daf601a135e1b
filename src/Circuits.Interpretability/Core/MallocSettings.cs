using System.Globalization;
using System.Runtime.InteropServices;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Tells glibc's malloc, which libtorch allocates its CPU tensors with, to keep freed memory for the next tensor rather
/// than hand it back to the kernel. By default glibc maps a large block fresh for many tensors and returns the top of
/// its heap after each free, so the next pass of a network touches new pages again: every 4 KB page then costs a page
/// fault, which on virtual machines is expensive (on the 2026-12-01 build machine, 533,000 faults in a 35 s profile,
/// and step times that varied by 40% from one minute to the next; with these settings, 101,000 faults and times
/// within a few percent).
/// </summary>
/// <remarks>
/// The settings are glibc's <c>mallopt</c> parameters, the same as its <c>MALLOC_*_</c> environment variables:
/// blocks up to <see cref="MmapThreshold"/> come from the heap (the most glibc allows on 64-bit systems), up to
/// <see cref="TrimThreshold"/> of free memory at the top of a heap is kept, and the heap grows by
/// <see cref="TopPad"/> at a time. The cost is that the process keeps its high-water mark of tensor memory (up to
/// the trim threshold) after a large pass. Nothing is done on other systems or C libraries (musl, Windows, macOS), or
/// when the environment variable <see cref="TorchBackend.AllocatorVariable"/> is <c>system</c>.
/// </remarks>
internal static class MallocSettings
{
    /// <summary>glibc's largest heap-served block on 64-bit systems (HEAP_MAX_SIZE / 2): 32 MiB.</summary>
    internal const int MmapThreshold = 32 << 20;

    /// <summary>Free memory kept at the top of a heap: 512 MiB.</summary>
    internal const int TrimThreshold = 512 << 20;

    /// <summary>How much more a heap grows by than a request needs: 64 MiB.</summary>
    internal const int TopPad = 64 << 20;

    // glibc's malloc.h.
    private const int MTrimThreshold = -1;
    private const int MTopPad = -2;
    private const int MMmapThreshold = -3;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int Mallopt(int parameter, int value);

    /// <summary>
    /// Applies the settings where glibc is the C library; returns what was done in words, or null when nothing was
    /// (another system or C library, or glibc refused a setting, in which case the settings made before it stay).
    /// </summary>
    internal static string? Apply()
    {
        if (!OperatingSystem.IsLinux() || !TryBind(out Mallopt? mallopt))
        {
            return null;
        }

        // The mmap threshold first: setting any of the three turns off glibc's own adjustment of the other two.
        foreach ((int parameter, int value) in new[] { (MMmapThreshold, MmapThreshold), (MTrimThreshold, TrimThreshold), (MTopPad, TopPad) })
        {
            if (mallopt!(parameter, value) != 1)
            {
                return null;
            }
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"glibc malloc keeps freed tensor memory for reuse (blocks up to {MmapThreshold >> 20} MiB from the heap, up to {TrimThreshold >> 20} MiB of free memory kept, growth by {TopPad >> 20} MiB); set {TorchBackend.AllocatorVariable}=system to leave malloc as it is");
    }

    private static bool TryBind(out Mallopt? mallopt)
    {
        mallopt = null;
        // gnu_get_libc_version exists only in glibc: musl has no mallopt parameters of this meaning.
        if (!NativeLibrary.TryLoad("libc.so.6", out IntPtr libc) ||
            !NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _) ||
            !NativeLibrary.TryGetExport(libc, "mallopt", out IntPtr address))
        {
            return false;
        }

        mallopt = Marshal.GetDelegateForFunctionPointer<Mallopt>(address);
        return true;
    }
}
