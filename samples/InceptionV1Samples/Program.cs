// One sample per Circuits-thread article, on InceptionV1 (Lucid's inception5h weights):
//   dotnet run -c Release --project samples/InceptionV1Samples -- curve-detectors --out out/curve-detectors
// Run without arguments for the list of subcommands and options (docs/inceptionv1-samples.md).
using Circuits.Interpretability.Samples.InceptionV1Samples;

return SampleRunner.Run(args, Console.Out, Console.Error);
