using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Numerics;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>Settings of <see cref="ActivationAtlas"/>.</summary>
public sealed record AtlasOptions
{
    /// <summary>Cells across and down. Default 20 (Lucid's atlases use 20 to 80).</summary>
    public int GridSize { get; init; } = 20;

    /// <summary>Cells with fewer samples stay empty. Default 8, as Captum's.</summary>
    public int MinDensity { get; init; } = 8;

    /// <summary>Activation vectors taken per image by <see cref="ActivationAtlas.Collect"/> (random positions, seeded); 0 takes every position. Default 1, as Lucid's recipe.</summary>
    public int PositionsPerImage { get; init; } = 1;

    /// <summary>Settings of the layout (t-SNE). Default: <see cref="TsneOptions"/>'s defaults.</summary>
    public TsneOptions Layout { get; init; } = new();

    /// <summary>Icon renders: default 128 steps, 48 px, 16 icons per batch (its BatchSize), the model's input convention.</summary>
    public RenderOptions? Render { get; init; }

    /// <summary>
    /// The objective that renders a cell's mean activation vector, given (layer, direction, batch item). Default:
    /// <see cref="Objectives.DirectionNeuron"/> at the centre position with <see cref="CossimPow"/>, as Lucid's atlas
    /// renders (a direction objective rewarding the cosine similarity).
    /// </summary>
    public Func<string, Tensor, int, Objective>? IconObjective { get; init; }

    /// <summary>The cosine-similarity power of the default icon objective (Lucid's <c>cossim_pow</c>). Default 1.</summary>
    public double CossimPow { get; init; } = 1;

    /// <summary>Seed of the position sampling. Default 0.</summary>
    public int Seed { get; init; }
}

/// <summary>
/// Activation atlases (Carter et al. 2019; Lucid's <c>activation_atlas</c> recipe, Captum's atlas utilities): the
/// activation vectors of many image patches are laid out in 2-D (t-SNE here, or any layout you pass), a grid is laid
/// over the layout, each cell's samples are averaged, and every average is rendered as a feature visualization of that
/// direction; the icons, placed at their cells, make one atlas image.
/// </summary>
/// <example>
/// <code>
/// using Tensor samples = ActivationAtlas.Collect(model, "mixed4c", batches, options);       // N x C
/// using Tensor layout = ActivationAtlas.Layout(samples, options);                          // N x 2
/// using var grid = AtlasGrid.Build(layout, samples, 20, 20);
/// using Tensor atlas = ActivationAtlas.Render(model, "mixed4c", grid, options);            // 3 x 960 x 960
/// </code>
/// </example>
public static class ActivationAtlas
{
    /// <summary>
    /// Runs every batch (N x 3 x H x W images in [0, 1], brought to the model's input by <paramref name="preprocess"/>, or by
    /// the model's own convention when null) and keeps
    /// <see cref="AtlasOptions.PositionsPerImage"/> activation vectors of <paramref name="layer"/> per image, at seeded
    /// random positions (or all). Returns samples x C (float32, CPU; the caller owns it).
    /// </summary>
    /// <exception cref="UnknownLayerException">The layer does not exist.</exception>
    /// <exception cref="CircuitsException">No batches, or the layer has no spatial positions.</exception>
    public static Tensor Collect(nn.Module<Tensor, Tensor> model, string layer, IEnumerable<Tensor> batches, AtlasOptions? options = null,
        Func<Tensor, Tensor>? preprocess = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        options ??= new AtlasOptions();
        if (options.PositionsPerImage < 0)
        {
            throw new CircuitsException($"PositionsPerImage {options.PositionsPerImage} is negative; expected 0 (all) or more.");
        }

        var samples = new List<Tensor>();
        var random = new Random(options.Seed);
        Func<Tensor, Tensor> pre = Preprocessing.Resolve(model, preprocess);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var capture = ActivationCapture.Attach(model, new[] { layer });
            int done = 0;
            foreach (Tensor batch in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using CaptureResult result = capture.Run(pre(batch));
                Tensor a = result[layer];
                if (a.dim() != 4)
                {
                    throw new CircuitsException($"Layer '{layer}' has output shape [{string.Join(", ", a.shape)}], which has no spatial positions; expected N x C x H x W.");
                }

                Tensor rows = a.permute(0, 2, 3, 1).reshape(a.shape[0], a.shape[2] * a.shape[3], a.shape[1]).to(ScalarType.Float32).cpu();
                for (long i = 0; i < rows.shape[0]; i++)
                {
                    int positions = (int)rows.shape[1];
                    long[] picks = options.PositionsPerImage == 0 || options.PositionsPerImage >= positions
                        ? Enumerable.Range(0, positions).Select(p => (long)p).ToArray()
                        : Enumerable.Range(0, options.PositionsPerImage).Select(_ => (long)random.Next(positions)).ToArray();
                    samples.Add(rows[i].index_select(0, tensor(picks)).DetachFromDisposeScope());
                }

                progress?.Report(++done);
            }

            if (samples.Count == 0)
            {
                throw new CircuitsException("ActivationAtlas.Collect got no images; expected at least one N x 3 x H x W batch.");
            }

            return cat(samples, 0);
        }
        finally
        {
            model.train(wasTraining);
            foreach (Tensor t in samples)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The 2-D t-SNE layout (N x 2, float32) of activation samples (N x C), with <see cref="AtlasOptions.Layout"/>.</summary>
    public static Tensor Layout(Tensor samples, AtlasOptions? options = null, IProgress<TsneProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        options ??= new AtlasOptions();
        TsneOptions layout = options.Layout;
        if (layout.Perplexity >= samples.shape[0] - 1)
        {
            layout = layout with { Perplexity = Math.Max(2, (samples.shape[0] - 2) / 3.0) };
        }

        return Tsne.Embed(samples, layout, progress, cancellationToken);
    }

    /// <summary>
    /// Renders each cell's mean activation vector as an icon (<see cref="AtlasOptions.IconObjective"/>, batches of
    /// <see cref="AtlasOptions.Render"/>'s BatchSize) and places it at its cell: a 3 x (rows · s) x (columns · s) image on
    /// white, row 0 at the top (the caller owns it). <paramref name="icons"/>, when given, receives every icon by cell index.
    /// </summary>
    /// <exception cref="UnknownLayerException">The layer does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static Tensor Render(nn.Module<Tensor, Tensor> model, string layer, AtlasGrid grid, AtlasOptions? options = null,
        IList<Tensor>? icons = null, IProgress<RenderProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(grid);
        options ??= new AtlasOptions();
        RenderOptions render = options.Render ?? new RenderOptions { Steps = 128, ImageSize = 48, BatchSize = 16 };
        Func<string, Tensor, int, Objective> objective = options.IconObjective ?? ((l, d, b) => Objectives.DirectionNeuron(l, d, batch: b, cossimPow: options.CossimPow));
        int size = render.ImageSize, perBatch = Math.Max(1, render.BatchSize);
        using var scope = NewDisposeScope();
        Tensor atlas = ones(3, grid.Rows * size, grid.Columns * size);
        for (int start = 0; start < grid.Cells.Count; start += perBatch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(perBatch, grid.Cells.Count - start);
            using var batchScope = NewDisposeScope();
            Objective total = Objective.Sum(Enumerable.Range(0, count).Select(i => objective(layer, grid.Means[start + i], i)));
            using RenderResult result = FeatureVisualization.Render(model, total, render with { BatchSize = count }, progress, cancellationToken);
            for (int i = 0; i < count; i++)
            {
                AtlasCell cell = grid.Cells[start + i];
                Tensor icon = result.Images[i].narrow(0, 0, 3);
                atlas[TensorIndex.Colon, TensorIndex.Slice(cell.Row * size, (cell.Row + 1) * size), TensorIndex.Slice(cell.Column * size, (cell.Column + 1) * size)] = icon;
                icons?.Add(icon.clone().DetachFromDisposeScope());
            }
        }

        return atlas.DetachFromDisposeScope();
    }

    /// <summary>Collect, layout, grid and render in one call, and save the atlas as a PNG when <paramref name="pngPath"/> is given.</summary>
    public static Tensor Build(nn.Module<Tensor, Tensor> model, string layer, IEnumerable<Tensor> batches, AtlasOptions? options = null,
        Func<Tensor, Tensor>? preprocess = null, string? pngPath = null, CancellationToken cancellationToken = default)
    {
        options ??= new AtlasOptions();
        using Tensor samples = Collect(model, layer, batches, options, preprocess, null, cancellationToken);
        using Tensor layout = Layout(samples, options, null, cancellationToken);
        using var grid = AtlasGrid.Build(layout, samples, options.GridSize, options.GridSize, options.MinDensity);
        var render = (options.Render ?? new RenderOptions { Steps = 128, ImageSize = 48, BatchSize = 16 }) with { Preprocess = options.Render?.Preprocess ?? preprocess };
        // (null Preprocess: the render resolves the model's own convention, as Collect did.)
        Tensor atlas = Render(model, layer, grid, options with { Render = render }, null, null, cancellationToken);
        if (pngPath is not null)
        {
            ImageIO.SavePng(atlas, pngPath);
        }

        return atlas;
    }
}
