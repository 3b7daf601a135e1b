using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>Settings of <see cref="SemanticDictionary.Build"/>.</summary>
public sealed record SemanticDictionaryOptions
{
    /// <summary>How many units each position lists (its strongest activations). Default 4.</summary>
    public int TopK { get; init; } = 4;

    /// <summary>Applied to the image (RGB in [0, 1]) before the model; null (default): the model's own input convention (<see cref="Preprocessing.Resolve"/>).</summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>Render a feature visualization (icon) of every unit that appears. Default true; false keeps only the numbers.</summary>
    public bool RenderIcons { get; init; } = true;

    /// <summary>
    /// Settings of the icon renders (channel objective, several units per batch). Default: 256 steps, 64 px, 8 units
    /// per batch, with <see cref="Preprocess"/>. Its <c>BatchSize</c> is the number of units rendered together.
    /// </summary>
    public RenderOptions? IconRender { get; init; }
}

/// <summary>One position of a semantic dictionary: its strongest units.</summary>
/// <param name="Y">Row in the layer.</param>
/// <param name="X">Column in the layer.</param>
/// <param name="Top">The strongest units, strongest first (ties: lower channel first).</param>
/// <param name="Magnitude">The L2 norm of the position's whole activation vector.</param>
public sealed record SemanticEntry(int Y, int X, IReadOnlyList<(int Channel, double Activation)> Top, double Magnitude);

/// <summary>
/// Semantic dictionaries, as in Building Blocks: for one image, every position of a layer described by the units that
/// fire most there, each shown as its feature visualization, so that an activation vector reads as a few pictures.
/// </summary>
/// <example>
/// <code>
/// using var dictionary = SemanticDictionary.Build(model, image, "mixed4d", new SemanticDictionaryOptions { TopK = 4 });
/// dictionary.At(3, 5).Top;              // (channel, activation) pairs, strongest first
/// dictionary.SaveHtml("dictionary.html"); // hover a position to see its units
/// </code>
/// </example>
public static class SemanticDictionary
{
    /// <summary>Runs the image, ranks every position's units and renders an icon per unit that appears (in batches).</summary>
    /// <param name="model">The model.</param>
    /// <param name="image">One RGB image in [0, 1], 1 x 3 x H x W (or 3 x H x W).</param>
    /// <param name="layer">The layer (N x C x h x w output).</param>
    /// <param name="options">Settings.</param>
    /// <param name="progress">Progress of the icon renders (each batch's steps).</param>
    /// <param name="cancellationToken">Checked between and during renders.</param>
    /// <exception cref="UnknownLayerException">The layer does not exist.</exception>
    /// <exception cref="CircuitsException">The image is not one RGB image, the layer has no positions, or TopK is out of range.</exception>
    public static SemanticDictionaryResult Build(
        nn.Module<Tensor, Tensor> model, Tensor image, string layer, SemanticDictionaryOptions? options = null,
        IProgress<RenderProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(layer);
        options ??= new SemanticDictionaryOptions();
        Tensor batch = image.dim() == 3 ? image.unsqueeze(0) : image;
        if (batch.dim() != 4 || batch.shape[0] != 1 || batch.shape[1] != 3)
        {
            throw new CircuitsException($"A semantic dictionary describes one RGB image; got shape [{string.Join(", ", image.shape)}]. Expected 1 x 3 x H x W or 3 x H x W in [0, 1].");
        }

        var entries = new List<SemanticEntry>();
        int height, width;
        using (var scope = NewDisposeScope())
        {
            bool wasTraining = model.training;
            model.eval();
            Tensor acts;
            try
            {
                using CaptureResult result = ActivationCapture.Capture(model, Preprocessing.Resolve(model, options.Preprocess)(batch), new[] { layer });
                acts = result[layer].clone();
            }
            finally
            {
                model.train(wasTraining);
            }

            if (acts.dim() != 4)
            {
                throw new CircuitsException($"Layer '{layer}' has output shape [{string.Join(", ", acts.shape)}], which has no spatial positions; expected N x C x H x W.");
            }

            long channels = acts.shape[1];
            if (options.TopK < 1 || options.TopK > channels)
            {
                throw new CircuitsException($"TopK {options.TopK} is out of range for layer '{layer}' with {channels} channels; expected 1 to {channels}.");
            }

            height = (int)acts.shape[2];
            width = (int)acts.shape[3];
            float[] values = acts[0].to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();   // C x h x w
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    var vector = Enumerable.Range(0, (int)channels).Select(c => (Channel: c, Activation: (double)values[(((c * height) + y) * width) + x])).ToList();
                    var top = vector.OrderByDescending(v => v.Activation).ThenBy(v => v.Channel).Take(options.TopK).ToList();
                    entries.Add(new SemanticEntry(y, x, top, Math.Sqrt(vector.Sum(v => v.Activation * v.Activation))));
                }
            }
        }

        var icons = new Dictionary<int, Tensor>();
        try
        {
            if (options.RenderIcons)
            {
                RenderIcons(model, layer, entries.SelectMany(e => e.Top.Select(t => t.Channel)).Distinct().Order().ToList(), options, icons, progress, cancellationToken);
            }

            Tensor stored = batch[0].detach().to(ScalarType.Float32).cpu().clone();
            return new SemanticDictionaryResult(layer, stored, height, width, entries, icons);
        }
        catch
        {
            foreach (Tensor t in icons.Values)
            {
                t.Dispose();
            }

            throw;
        }
    }

    private static void RenderIcons(
        nn.Module<Tensor, Tensor> model, string layer, List<int> units, SemanticDictionaryOptions options,
        Dictionary<int, Tensor> icons, IProgress<RenderProgress>? progress, CancellationToken cancellationToken)
    {
        RenderOptions render = options.IconRender ?? new RenderOptions { Steps = 256, ImageSize = 64, BatchSize = 8, Preprocess = options.Preprocess };
        foreach (int[] chunk in units.Chunk(Math.Max(1, render.BatchSize)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using RenderResult result = FeatureVisualization.Render(model, Objectives.ChannelsInBatch(layer, chunk), render with { BatchSize = chunk.Length }, progress, cancellationToken);
            for (int i = 0; i < chunk.Length; i++)
            {
                icons[chunk[i]] = result.Images[i].narrow(0, 0, 3).detach().clone();
            }
        }
    }
}
