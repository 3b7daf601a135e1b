// QuickStart: the hook API on the built-in SmallConvNet, with no download.
//   dotnet run --project samples/QuickStart -c Release [-- --seed N --size S]
// Lists every layer with its output shape, captures activations of several layers in one forward pass,
// then ablates the most active channel of the last conv layer and shows what it did to the logits.
using System.Globalization;
using Circuits.Interpretability;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

int seed = 0;
int size = 64;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--size": size = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "-h" or "--help":
            Console.WriteLine("usage: QuickStart [--seed N] [--size PIXELS]");
            return 0;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'; expected --seed N or --size PIXELS.");
            return 2;
    }
}

try
{
    using var model = new SmallConvNet(seed);
    model.eval();
    Console.WriteLine($"SmallConvNet (seed {seed}), input 1 x 3 x {size} x {size}");
    Console.WriteLine();
    Console.WriteLine(LayerTable.Describe(model, new long[] { 1, 3, size, size }).ToTable());
    Console.WriteLine();

    // A deterministic test image: a diagonal colour ramp with a bright square.
    using var scope = NewDisposeScope();
    Tensor ramp = linspace(0, 1, size).reshape(1, 1, 1, size) * 0.5 + linspace(0, 1, size).reshape(1, 1, size, 1) * 0.5;
    Tensor image = cat(new[] { ramp, ramp.flip(3), ramp.flip(2) }, 1);
    image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(size / 4, size / 2), TensorIndex.Slice(size / 4, size / 2)] = tensor(1f);

    string[] layers = { "features.conv1", "features.conv2", "features.conv3", "head.fc" };
    using var captured = ActivationCapture.Capture(model, image, layers);
    Console.WriteLine("Captured in one forward pass:");
    foreach (string layer in layers)
    {
        Tensor a = captured[layer];
        Tensor perChannel = a.dim() == 4 ? a.mean(new long[] { 0, 2, 3 }) : a.mean(new long[] { 0 });
        long top = perChannel.argmax().item<long>();
        Console.WriteLine($"  {layer,-16} shape {string.Join(" x ", a.shape),-16} mean {a.mean().item<float>(),9:F4}  max {a.max().item<float>(),9:F4}  most active channel {top}");
    }

    Tensor conv3 = captured["features.conv3"].mean(new long[] { 0, 2, 3 });
    int strongest = (int)conv3.argmax().item<long>();
    Tensor logits = captured.Output!;
    Tensor ablated;
    using (InterventionScope.Apply(model, Intervention.Zero($"features.relu3:{strongest}")))
    using (no_grad())
    {
        ablated = model.call(image);
    }

    Console.WriteLine();
    Console.WriteLine($"Ablating features.relu3:{strongest} (the most active conv3 channel) changes the logits by:");
    float[] before = logits.data<float>().ToArray();
    float[] after = ablated.data<float>().ToArray();
    for (int c = 0; c < before.Length; c++)
    {
        Console.WriteLine($"  class {c}: {before[c],9:F4} -> {after[c],9:F4}  ({(after[c] - before[c]).ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture)})");
    }

    return 0;
}
catch (CircuitsException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
