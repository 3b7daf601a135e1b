using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The model a computing verb works on, as the shared options ask for it: built in (<c>--model NAME</c>) or the
/// user's own (<c>--model-assembly PATH [--model TYPE]</c>), with its weights, moved to <c>--device</c>, at
/// <c>--input-size</c>. Opening it warns on standard error when the weights are random. It checks units and layers
/// named on the command line against the model before any long work starts.
/// </summary>
internal sealed class ModelSession : IDisposable
{
    private LayerTable? _layers;

    private ModelSession(ModelEntry entry, LoadedModel loaded, Device device, int inputSize, bool json, int seed)
    {
        Entry = entry;
        Loaded = loaded;
        Device = device;
        InputSize = inputSize;
        Json = json;
        Seed = seed;
    }

    /// <summary>The model's catalog entry.</summary>
    public ModelEntry Entry { get; }

    /// <summary>The loaded model and where its weights came from.</summary>
    public LoadedModel Loaded { get; }

    /// <summary>The model, in eval mode, on <see cref="Device"/>.</summary>
    public nn.Module<Tensor, Tensor> Model => Loaded.Model;

    /// <summary>Where the model and the work live.</summary>
    public Device Device { get; }

    /// <summary>The device's name: cpu, cuda, cuda:1.</summary>
    public string DeviceName => DeviceChoice.Name(Device);

    /// <summary>The square input size in pixels: <c>--input-size</c>, else the model's own.</summary>
    public int InputSize { get; }

    /// <summary>Whether <c>--json</c> was given.</summary>
    public bool Json { get; }

    /// <summary>The seed (<c>--seed</c>).</summary>
    public int Seed { get; }

    /// <summary>The layers of the model at <see cref="InputSize"/> (one forward pass of a 1 x 3 x size x size input, made once).</summary>
    public LayerTable Layers => _layers ??= LayerTable.Describe(Model, new long[] { 1, 3, InputSize, InputSize });

    /// <summary>"; seeded RANDOM weights (seed 0)" when the weights are random, else empty: for headings people read.</summary>
    public string RandomNote => Loaded.RandomWeights ? $"; {Loaded.WeightsSource}" : string.Empty;

    /// <summary>The model's entry from the shared options, without loading it.</summary>
    public static ModelEntry ResolveEntry(ParseResult parse)
    {
        string? assembly = parse.GetValue(CircuitsCli.ModelAssembly);
        string? model = parse.GetValue(CircuitsCli.Model);
        return assembly is not null ? UserModel.Entry(assembly, model) : ModelCatalog.Find(model ?? ModelCatalog.All[0].Name);
    }

    /// <summary>Loads the model the shared options ask for, on the chosen device, in eval mode.</summary>
    public static ModelSession Open(ParseResult parse, TextWriter error, ModelEntry? entry = null)
    {
        entry ??= ResolveEntry(parse);
        string? weights = parse.GetValue(CircuitsCli.Weights);
        bool random = parse.GetValue(CircuitsCli.RandomWeights);
        if (weights is not null && random)
        {
            throw new UsageException("--weights and --random-weights exclude each other; give one.");
        }

        Device device = DeviceChoice.Resolve(parse.GetValue(CircuitsCli.DeviceOption)!);
        TorchBackend.EnsureAvailable();
        if (TorchBackend.KernelWorkaround is string workaround)
        {
            error.WriteLine($"note: {workaround}");
        }

        int seed = parse.GetValue(CircuitsCli.Seed);
        LoadedModel loaded = entry.Create(new ModelRequest(seed, weights, random));
        try
        {
            loaded.Model.to(device);
            loaded.Model.eval();
        }
        catch
        {
            loaded.Dispose();
            throw;
        }

        if (loaded.RandomWeights)
        {
            error.WriteLine($"warning: '{entry.Name}' runs with {loaded.WeightsSource}: results show shapes and data flow, not what a trained model computes.");
        }

        return new ModelSession(entry, loaded, device, parse.GetValue(CircuitsCli.InputSize) ?? entry.DefaultInputSize, parse.GetValue(CircuitsCli.Json), seed);
    }

    /// <summary>The number of channels of <paramref name="layer"/>'s output.</summary>
    /// <exception cref="UnknownLayerException">The model has no such layer; the message names the nearest ones.</exception>
    /// <exception cref="UsageException">The layer did not run or has no channels.</exception>
    public int ChannelCount(string layer)
    {
        _ = ModelLayers.Find(Model, layer);
        long[] shape = Layers[layer].OutputShape
            ?? throw new UsageException($"Layer '{layer}' did not run in a forward pass of a {InputSize} x {InputSize} input (or does not return one tensor), so it has no channels to address.");
        return shape.Length >= 2 ? (int)shape[1] : throw new UsageException($"Layer '{layer}' has output shape {string.Join(" x ", shape)}, without channels.");
    }

    /// <summary>Checks that <paramref name="unit"/> (given with <paramref name="option"/>) exists in the model: its layer, channel and position.</summary>
    public NeuronAddress Check(NeuronAddress unit, string option)
    {
        int channels = ChannelCount(unit.Layer);
        if (unit.Channel is int c && c >= channels)
        {
            throw new UsageException($"{option} '{unit}': channel {c} is outside layer '{unit.Layer}', which has channels 0 to {channels - 1}.");
        }

        long[] shape = Layers[unit.Layer].OutputShape!;
        if (unit.Y is int y && unit.X is int x && shape.Length == 4 && (y >= shape[2] || x >= shape[3]))
        {
            throw new UsageException($"{option} '{unit}': position ({y}, {x}) is outside layer '{unit.Layer}', whose map is {shape[2]} x {shape[3]} at input size {InputSize}.");
        }

        return unit;
    }

    /// <summary>
    /// A verb's JSON result: the model's fields every verb reports first (<c>model</c>, <c>modelId</c>,
    /// <c>randomWeights</c>, <c>device</c>), then the properties of <paramref name="result"/>.
    /// </summary>
    public string JsonResult(object result)
    {
        var json = new JsonObject
        {
            ["model"] = Entry.Name,
            ["modelId"] = Loaded.Id,
            ["randomWeights"] = Loaded.RandomWeights,
            ["device"] = DeviceName,
        };
        foreach (var (name, value) in JsonSerializer.SerializeToNode(result, CircuitsCli.JsonOptions)!.AsObject().ToList())
        {
            json[name] = value?.DeepClone();
        }

        return json.ToJsonString(CircuitsCli.JsonOptions);
    }

    /// <summary>What <paramref name="unit"/> is by the model's design ("line at 45°"), or null.</summary>
    public string? Label(NeuronAddress unit) => Entry.UnitLabel?.Invoke(unit);

    /// <inheritdoc />
    public void Dispose() => Loaded.Dispose();
}
