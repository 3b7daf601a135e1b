using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Imaging;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.DatasetExamples;

/// <summary>
/// Dataset examples: the images of a folder that activate a neuron most, with a crop around where they do.
/// </summary>
/// <remarks>
/// <para><b>Streaming.</b> Files (the <see cref="DatasetExamplesOptions.Extensions"/>, in ordinal order of their
/// full paths) are read one batch at a time; only the batch's images and the top-k list's paths and numbers
/// are held, and the k winners are read again at the end to cut their crops, so memory stays at most
/// batch + k images whatever the folder's size.</para>
/// <para><b>Input.</b> Each image is centre-cropped to a square (its shorter side) and resized to
/// <see cref="DatasetExamplesOptions.InputSize"/> (area averaging when shrinking, bilinear when enlarging).
/// Images that cannot be read or decoded are skipped and listed in <see cref="DatasetExamplesResult.Skipped"/>,
/// never fatal.</para>
/// <para><b>Activation.</b> For <c>layer:channel</c> the largest activation over positions (the first in
/// row-major order among equal ones); for <c>layer:channel@y,x</c> the activation there. Equal activations of
/// different images are ordered by path (ordinal).</para>
/// <para><b>Where in the image.</b> A layer's output of H x W positions over an input of S x S pixels has a
/// stride of S / H (from the shapes' ratio); position (y, x) is centred on input pixel
/// ((y + 0.5) · S / H − 0.5, (x + 0.5) · S / W − 0.5), which is exact for "same"-padded convs and pools.
/// The crop is the square of <see cref="DatasetExamplesOptions.CropSize"/> pixels around that centre, moved
/// inside the image where it would cross the border. By default the crop size is the receptive field,
/// measured once: the extent of input pixels whose gradient with respect to the layer's channels summed at
/// the centre position is non-zero, over four seeded random images (at least the stride).</para>
/// <para><b>Resuming.</b> With a <see cref="DatasetExamplesOptions.StatePath"/>, the paths processed, the
/// running top-k and the skipped list are written atomically after every batch; a new run with the same
/// settings continues after the last processed path. A state file written for other settings is refused.</para>
/// </remarks>
public static class DatasetExamples
{
    private const int StateVersion = 1;

    /// <summary>Finds the top-k activating images of <paramref name="folder"/> for <paramref name="neuron"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidAddressException">The address has no channel.</exception>
    /// <exception cref="CircuitsException">An option is out of range, or the state file belongs to another search.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; with a state file, a new run resumes after the last finished batch.</exception>
    public static DatasetExamplesResult Find(
        nn.Module<Tensor, Tensor> model,
        NeuronAddress neuron,
        string folder,
        DatasetExamplesOptions? options = null,
        IProgress<DatasetExamplesProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new DatasetExamplesOptions();
        Validate(neuron, options);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"The image folder '{folder}' does not exist.");
        }

        string root = Path.GetFullPath(folder);
        var extensions = new HashSet<string>(options.Extensions.Select(e => e.StartsWith('.') ? e : "." + e), StringComparer.OrdinalIgnoreCase);
        List<string> files = Directory.EnumerateFiles(root, "*", options.Recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(f => extensions.Contains(Path.GetExtension(f)))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

        string fingerprint = $"{neuron}|{root}|k={options.TopK}|size={options.InputSize}|ext={string.Join(",", extensions.OrderBy(e => e, StringComparer.OrdinalIgnoreCase))}|recursive={options.Recursive}|preprocess={Preprocessing.Describe(options.Preprocess)}";
        State state = LoadState(options.StatePath, fingerprint) ?? new State { Version = StateVersion, Fingerprint = fingerprint };
        int resumedFrom = state.Processed;
        Device device = ModelDevice.Resolve(model, options.Device, "DatasetExamplesOptions.Device");
        Func<Tensor, Tensor> preprocess = Preprocessing.Resolve(model, options.Preprocess);
        var pending = state.LastPath is null ? files : files.Where(f => string.CompareOrdinal(f, state.LastPath) > 0).ToList();
        progress?.Report(new DatasetExamplesProgress(state.Processed, files.Count, state.Skipped.Count));
        using (var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { neuron.Layer }, Device = device }))
        {
            for (int start = 0; start < pending.Count; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var paths = pending.Skip(start).Take(options.BatchSize).ToList();
                RunBatch(run, neuron, paths, options, device, preprocess, state);
                state.Processed += paths.Count;
                state.LastPath = paths[^1];
                SaveState(options.StatePath, state);
                progress?.Report(new DatasetExamplesProgress(state.Processed, files.Count, state.Skipped.Count));
            }
        }

        state.Complete = true;
        SaveState(options.StatePath, state);
        return Finish(model, neuron, options, device, state, files.Count, resumedFrom);
    }

    /// <summary>
    /// The side of the square of input pixels that can affect <paramref name="layer"/> at its centre position:
    /// the extent of non-zero gradient of the layer's channels summed there, over four seeded random images of
    /// <paramref name="inputSize"/> pixels. Returns 0 when no gradient reaches the input.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="layer">The layer's module path.</param>
    /// <param name="inputSize">The side of the square input, in pixels.</param>
    /// <param name="preprocess">Applied to the images before the model; null: the model's input convention (<see cref="IInputConvention"/>), or none.</param>
    /// <param name="device">The device of the images; null: the model's (another is refused).</param>
    public static int MeasureReceptiveField(nn.Module<Tensor, Tensor> model, string layer, int inputSize, Func<Tensor, Tensor>? preprocess = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Device on = ModelDevice.Resolve(model, device, "the device");
        Func<Tensor, Tensor> toModel = Preprocessing.Resolve(model, preprocess);
        int minY = int.MaxValue, maxY = -1, minX = int.MaxValue, maxX = -1;
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { layer }, KeepGraph = true, Device = on });
        for (int seed = 0; seed < 4; seed++)
        {
            using var scope = NewDisposeScope();
            Tensor input = rand(new long[] { 1, 3, inputSize, inputSize }, generator: new Generator((ulong)seed)).to(on).requires_grad_(true);
            using CaptureResult result = run.Run(toModel(input));
            Tensor a = result[layer];
            if (a.dim() != 4)
            {
                return 0;
            }

            int rows = (int)a.shape[2], cols = (int)a.shape[3];
            Tensor centre = a[TensorIndex.Colon, TensorIndex.Colon, rows / 2, cols / 2].sum();
            if (!centre.requires_grad)
            {
                return 0;
            }

            Tensor grad = autograd.grad(new[] { centre }, new[] { input }, allow_unused: true)[0];
            if (grad is null || grad.IsInvalid)
            {
                continue;
            }

            Tensor support = grad.abs().sum(new long[] { 0, 1 }).gt(0);
            long[] ys = support.any(1).nonzero().flatten().cpu().data<long>().ToArray();
            long[] xs = support.any(0).nonzero().flatten().cpu().data<long>().ToArray();
            if (ys.Length > 0)
            {
                minY = Math.Min(minY, (int)ys.Min());
                maxY = Math.Max(maxY, (int)ys.Max());
                minX = Math.Min(minX, (int)xs.Min());
                maxX = Math.Max(maxX, (int)xs.Max());
            }
        }

        if (maxY < 0)
        {
            return 0;
        }

        return Math.Max(maxY - minY + 1, maxX - minX + 1);
    }

    /// <summary>Reads an image and brings it to the model's input: centre-cropped square, resized to <paramref name="size"/>.</summary>
    internal static Tensor LoadForModel(string path, int size)
    {
        using var scope = NewDisposeScope();
        Tensor image = ImageIO.Load(path);
        long h = image.shape[1], w = image.shape[2], side = Math.Min(h, w);
        long top = (h - side) / 2, left = (w - side) / 2;
        Tensor square = image[TensorIndex.Colon, TensorIndex.Slice(top, top + side), TensorIndex.Slice(left, left + side)].unsqueeze(0);
        if (side != size)
        {
            square = side > size
                ? nn.functional.interpolate(square, new long[] { size, size }, mode: InterpolationMode.Area)
                : nn.functional.interpolate(square, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        }

        return square[0].contiguous().MoveToOuterDisposeScope();
    }

    private static void RunBatch(ForwardRun run, NeuronAddress neuron, List<string> paths, DatasetExamplesOptions options, Device device, Func<Tensor, Tensor> preprocess, State state)
    {
        using var scope = NewDisposeScope();
        var loaded = new List<(string Path, Tensor Image)>();
        foreach (string path in paths)
        {
            try
            {
                loaded.Add((path, LoadForModel(path, options.InputSize)));
            }
            catch (Exception e) when (e is ImageFormatException or IOException or UnauthorizedAccessException)
            {
                state.Skipped.Add(new SkippedImage(path, e.Message));
            }
        }

        if (loaded.Count == 0)
        {
            return;
        }

        Tensor batch = stack(loaded.Select(l => l.Image)).to(device);
        using CaptureResult result = run.Run(preprocess(batch));
        Tensor layer = result[neuron.Layer];
        Tensor channel = result.Get(new NeuronAddress(neuron.Layer, neuron.Channel!.Value)); // N x H x W (or N)
        if (channel.dim() != 3 && channel.dim() != 1)
        {
            throw new UnitOutOfRangeException($"Layer '{neuron.Layer}' has output shape [{string.Join(", ", layer.shape)}]; expected N x C or N x C x H x W.");
        }

        int h = channel.dim() == 3 ? (int)channel.shape[1] : 1, w = channel.dim() == 3 ? (int)channel.shape[2] : 1;
        state.LayerHeight = h;
        state.LayerWidth = w;
        float[] values;
        long[] where;
        if (channel.dim() == 1)
        {
            values = channel.to(ScalarType.Float32).cpu().data<float>().ToArray();
            where = new long[values.Length];
        }
        else if (neuron.HasPosition)
        {
            values = result.Get(neuron).to(ScalarType.Float32).cpu().data<float>().ToArray();
            where = Enumerable.Repeat((long)((neuron.Y!.Value * w) + neuron.X!.Value), values.Length).ToArray();
        }
        else
        {
            Tensor flat = channel.flatten(1);
            values = flat.max(1).values.to(ScalarType.Float32).cpu().data<float>().ToArray();
            where = flat.argmax(1).cpu().data<long>().ToArray();
        }

        for (int i = 0; i < loaded.Count; i++)
        {
            state.Top.Add(new StateEntry { Path = loaded[i].Path, Activation = values[i], Y = (int)(where[i] / w), X = (int)(where[i] % w) });
        }

        state.Top = state.Top
            .OrderByDescending(e => e.Activation)
            .ThenBy(e => e.Path, StringComparer.Ordinal)
            .Take(options.TopK)
            .ToList();
    }

    private static DatasetExamplesResult Finish(nn.Module<Tensor, Tensor> model, NeuronAddress neuron, DatasetExamplesOptions options, Device device, State state, int total, int resumedFrom)
    {
        int s = options.InputSize;
        int crop = options.CropSize ?? MeasureReceptiveField(model, neuron.Layer, s, options.Preprocess, device);
        double strideY = (double)s / Math.Max(1, state.LayerHeight), strideX = (double)s / Math.Max(1, state.LayerWidth);
        if (crop <= 0)
        {
            crop = (int)Math.Ceiling(Math.Max(strideY, strideX));
        }

        crop = Math.Clamp(crop, 1, s);
        var examples = new List<DatasetExample>();
        var crops = new List<Tensor>();
        var skipped = state.Skipped.ToList();
        try
        {
            foreach (StateEntry e in state.Top)
            {
                double cy = ((e.Y + 0.5) * strideY) - 0.5, cx = ((e.X + 0.5) * strideX) - 0.5;
                int top = Math.Clamp((int)Math.Round(cy - ((crop - 1) / 2.0)), 0, s - crop);
                int left = Math.Clamp((int)Math.Round(cx - ((crop - 1) / 2.0)), 0, s - crop);
                Tensor image;
                try
                {
                    image = LoadForModel(e.Path, s);
                }
                catch (Exception ex) when (ex is ImageFormatException or IOException or UnauthorizedAccessException)
                {
                    skipped.Add(new SkippedImage(e.Path, $"could not be read again to cut its crop: {ex.Message}"));
                    continue;
                }

                using (image)
                using (Tensor window = image[TensorIndex.Colon, TensorIndex.Slice(top, top + crop), TensorIndex.Slice(left, left + crop)])
                {
                    crops.Add(window.clone());
                }

                examples.Add(new DatasetExample(e.Path, e.Activation, e.Y, e.X, top, left, crop));
            }

            Tensor? stacked = crops.Count == 0 ? null : stack(crops);
            return new DatasetExamplesResult(neuron, examples, stacked, skipped, total, resumedFrom);
        }
        finally
        {
            foreach (Tensor t in crops)
            {
                t.Dispose();
            }
        }
    }

    private static void Validate(NeuronAddress neuron, DatasetExamplesOptions options)
    {
        if (neuron.Channel is null)
        {
            throw new InvalidAddressException($"Dataset examples need a channel: '{neuron}' names a whole layer; write '{neuron.Layer}:<channel>'.");
        }

        if (options.TopK <= 0 || options.BatchSize <= 0 || options.InputSize <= 0)
        {
            throw new CircuitsException(
                $"TopK ({options.TopK}), BatchSize ({options.BatchSize}) and InputSize ({options.InputSize}) must all be 1 or more.");
        }

        if (options.CropSize is int crop && (crop <= 0 || crop > options.InputSize))
        {
            throw new CircuitsException($"CropSize is {crop}; expected 1 to InputSize ({options.InputSize}), or null for the receptive field.");
        }

        if (options.Extensions.Count == 0)
        {
            throw new CircuitsException("Extensions is empty; name at least one, for example '.png'.");
        }
    }

    private static State? LoadState(string? path, string fingerprint)
    {
        if (path is null || !File.Exists(path))
        {
            return null;
        }

        State? state;
        try
        {
            state = JsonSerializer.Deserialize<State>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new CircuitsException($"The state file '{path}' is not a dataset-examples state ({e.Message}); delete it to start over.", e);
        }

        if (state is null || state.Version != StateVersion)
        {
            throw new CircuitsException($"The state file '{path}' has version {state?.Version.ToString() ?? "none"}; expected {StateVersion}. Delete it to start over.");
        }

        if (state.Fingerprint != fingerprint)
        {
            throw new CircuitsException(
                $"The state file '{path}' belongs to another search ('{state.Fingerprint}'); this one is '{fingerprint}'. Use another StatePath or delete the file to start over.");
        }

        return state;
    }

    private static void SaveState(string? path, State state)
    {
        if (path is not null)
        {
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(state, new JsonSerializerOptions { WriteIndented = true }));
        }
    }

    /// <summary>What a run has done so far, as the JSON state file holds it.</summary>
    private sealed class State
    {
        public int Version { get; set; }

        public string Fingerprint { get; set; } = string.Empty;

        public int Processed { get; set; }

        public string? LastPath { get; set; }

        public bool Complete { get; set; }

        public int LayerHeight { get; set; } = 1;

        public int LayerWidth { get; set; } = 1;

        public List<StateEntry> Top { get; set; } = new();

        public List<SkippedImage> Skipped { get; set; } = new();
    }

    private sealed class StateEntry
    {
        public string Path { get; set; } = string.Empty;

        public double Activation { get; set; }

        public int Y { get; set; }

        public int X { get; set; }
    }
}
