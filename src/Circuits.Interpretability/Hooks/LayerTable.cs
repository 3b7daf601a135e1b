using Circuits.Interpretability.Core;
using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// Every named layer of a model with its type, output shape for a given input and parameter count, found
/// with one dry forward pass (in eval mode, without autograd; the model's mode is restored afterwards).
/// </summary>
public sealed class LayerTable : IReadOnlyList<LayerInfo>
{
    private readonly IReadOnlyList<LayerInfo> _layers;

    private LayerTable(IReadOnlyList<LayerInfo> layers, long totalParameters)
    {
        _layers = layers;
        TotalParameters = totalParameters;
    }

    /// <summary>The number of parameter elements in the whole model.</summary>
    public long TotalParameters { get; }

    /// <inheritdoc />
    public int Count => _layers.Count;

    /// <inheritdoc />
    public LayerInfo this[int index] => _layers[index];

    /// <summary>The layer at <paramref name="path"/>.</summary>
    /// <exception cref="UnknownLayerException">No layer has that path; the message lists the closest ones.</exception>
    public LayerInfo this[string path] =>
        _layers.FirstOrDefault(l => l.Path == path) ?? throw new UnknownLayerException(path, NameMatching.Closest(_layers.Select(l => l.Path), path, 5));

    /// <summary>Describes <paramref name="model"/> by running it once on zeros of <paramref name="inputShape"/>.</summary>
    public static LayerTable Describe(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
        {
            throw new ArgumentException($"Input shape [{string.Join(", ", inputShape)}] must have at least one dimension, all positive.", nameof(inputShape));
        }

        return Describe(model, () => model.call(zeros(inputShape, device: ModelDevice.Of(model))));
    }

    /// <summary>Describes <paramref name="model"/> by running <paramref name="forward"/> once (for models whose forward takes other arguments).</summary>
    public static LayerTable Describe(nn.Module model, Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(forward);
        var modules = model.named_modules().Where(m => m.name.Length > 0).ToList();
        var shapes = new Dictionary<string, long[]>();
        var observers = modules
            .Where(m => m.module is nn.Module<Tensor, Tensor>)
            .Select(m => LayerEdit.Output(m.name, (_, output) =>
            {
                shapes[m.name] = output.shape;
                return null;
            }))
            .ToList();
        var others = modules.Where(m => m.module is not nn.Module<Tensor, Tensor>).Select(m => m.name).ToList();
        HashSet<string> ran;
        using (var run = ForwardRun.Attach(model, new ForwardRunOptions { Edits = observers, Watch = others, StopAfterTaps = false }))
        using (NewDisposeScope())
        using (CaptureResult result = run.Run(forward))
        {
            ran = result.Ran.ToHashSet();
        }

        var layers = modules
            .Select(m => new LayerInfo(
                m.name,
                m.module.GetType().Name,
                shapes.TryGetValue(m.name, out long[]? shape) ? shape : null,
                m.module.parameters().Sum(p => p.numel()),
                ran.Contains(m.name),
                m.module is nn.Module<Tensor, Tensor>))
            .ToList();
        return new LayerTable(layers, model.parameters().Sum(p => p.numel()));
    }

    /// <summary>A fixed-width table: layer (indented by depth), type, output shape, parameters.</summary>
    public string ToTable()
    {
        var rows = _layers.Select(l => (
            name: new string(' ', 2 * l.Depth) + l.Path,
            type: l.TypeName,
            shape: l.Ran ? l.ShapeText : "(did not run)",
            parameters: l.ParameterCount.ToString("N0", CultureInfo.InvariantCulture))).ToList();
        int w0 = Math.Max(5, rows.Select(r => r.name.Length).DefaultIfEmpty().Max());
        int w1 = Math.Max(4, rows.Select(r => r.type.Length).DefaultIfEmpty().Max());
        int w2 = Math.Max(12, rows.Select(r => r.shape.Length).DefaultIfEmpty().Max());
        int w3 = Math.Max(10, rows.Select(r => r.parameters.Length).DefaultIfEmpty().Max());
        var text = new StringBuilder();
        text.AppendLine($"{"Layer".PadRight(w0)}  {"Type".PadRight(w1)}  {"Output shape".PadRight(w2)}  {"Parameters".PadLeft(w3)}");
        text.AppendLine(new string('-', w0 + w1 + w2 + w3 + 6));
        foreach (var r in rows)
        {
            text.AppendLine($"{r.name.PadRight(w0)}  {r.type.PadRight(w1)}  {r.shape.PadRight(w2)}  {r.parameters.PadLeft(w3)}");
        }

        text.AppendLine(new string('-', w0 + w1 + w2 + w3 + 6));
        text.Append($"Total parameters: {TotalParameters.ToString("N0", CultureInfo.InvariantCulture)}");
        return text.ToString();
    }

    /// <inheritdoc />
    public override string ToString() => ToTable();

    /// <inheritdoc />
    public IEnumerator<LayerInfo> GetEnumerator() => _layers.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
