// Run all benchmarks:   dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- --filter '*'
// Run one class:        dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- --filter '*CaptureBenchmarks*'
// Results are recorded, with the machine they ran on, in docs/performance.md.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
