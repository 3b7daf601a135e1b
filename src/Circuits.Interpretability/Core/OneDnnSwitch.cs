using System.Runtime.InteropServices;
using TorchSharp;

namespace Circuits.Interpretability.Core;

/// <summary>
/// libtorch's process-wide switch for its oneDNN (MKLDNN) CPU kernels, what Python calls
/// <c>torch.backends.mkldnn.enabled</c>. TorchSharp does not expose it, so this calls libtorch's exported
/// <c>at::globalContext()</c> and <c>at::Context::setUserEnabledMkldnn(bool)</c> directly, by their C++ names
/// (Itanium ABI on Linux and macOS, Microsoft's on Windows). Off, libtorch computes convolutions with its own
/// kernels (im2col and BLAS), which are slower on most processors.
/// </summary>
internal static class OneDnnSwitch
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContext();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetEnabled(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool GetEnabled(IntPtr context);

    private static readonly (string Context, string Set, string Get) Itanium =
        ("_ZN2at13globalContextEv", "_ZN2at7Context20setUserEnabledMkldnnEb", "_ZNK2at7Context17userEnabledMkldnnEv");

    private static readonly (string Context, string Set, string Get) Microsoft =
        ("?globalContext@at@@YAAEAVContext@1@XZ", "?setUserEnabledMkldnn@Context@at@@QEAAX_N@Z", "?userEnabledMkldnn@Context@at@@QEBA_NXZ");

    /// <summary>Sets the switch; false when libtorch's library or its exports cannot be found (nothing changed then).</summary>
    internal static bool TrySet(bool enabled)
    {
        if (!TryBind(out GlobalContext? context, out SetEnabled? set, out _))
        {
            return false;
        }

        set!(context!(), enabled);
        return true;
    }

    /// <summary>The switch's state, or null when it cannot be read.</summary>
    internal static bool? TryGet() =>
        TryBind(out GlobalContext? context, out _, out GetEnabled? get) ? get!(context!()) : null;

    private static bool TryBind(out GlobalContext? context, out SetEnabled? set, out GetEnabled? get)
    {
        context = null;
        set = null;
        get = null;
        string library = OperatingSystem.IsWindows() ? "torch_cpu" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        if (!NativeLibrary.TryLoad(library, typeof(torch).Assembly, null, out IntPtr handle) &&
            !NativeLibrary.TryLoad(library, typeof(OneDnnSwitch).Assembly, null, out handle))
        {
            return false;
        }

        var names = OperatingSystem.IsWindows() ? Microsoft : Itanium;
        if (!NativeLibrary.TryGetExport(handle, names.Context, out IntPtr contextAddress) ||
            !NativeLibrary.TryGetExport(handle, names.Set, out IntPtr setAddress) ||
            !NativeLibrary.TryGetExport(handle, names.Get, out IntPtr getAddress))
        {
            return false;
        }

        context = Marshal.GetDelegateForFunctionPointer<GlobalContext>(contextAddress);
        set = Marshal.GetDelegateForFunctionPointer<SetEnabled>(setAddress);
        get = Marshal.GetDelegateForFunctionPointer<GetEnabled>(getAddress);
        return true;
    }
}
