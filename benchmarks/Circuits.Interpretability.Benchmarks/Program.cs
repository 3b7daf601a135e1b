// Run all benchmarks:   dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- --filter '*'
// Run one class:        dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- --filter '*CaptureBenchmarks*'
// Results are recorded, with the machine they ran on, in docs/performance.md.
// Profile a render step:   dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- profile-render [rounds] [threads]
// What ReLU redirection adds, paired: dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- profile-redirect [rounds] [threads]
using BenchmarkDotNet.Running;
using Circuits.Interpretability.Benchmarks;

if (args.Length > 0 && args[0] == "profile-render")
{
    RenderProfile.Run(
        args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2);
    return;
}

if (args.Length > 0 && args[0] == "profile-redirect")
{
    RedirectProfile.Run(
        args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 8,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
