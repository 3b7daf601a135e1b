using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.IO;

/// <summary>What <see cref="StateDictLoader.Load"/> did.</summary>
/// <param name="Loaded">Module paths of the parameters and buffers that received a tensor.</param>
/// <param name="MissingKeys">Module parameters and buffers the state dict had no tensor for (empty when strict).</param>
/// <param name="UnexpectedKeys">Mapped state-dict keys that name nothing in the module (empty when strict).</param>
public sealed record StateDictLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// Copies a <see cref="StateDict"/> into any TorchSharp module by name. Keys may be renamed on the way by a
/// key-mapping function (a file's names to the module's paths). Everything is validated first, missing
/// keys, unexpected keys and shape mismatches all named, and only then copied: a load either succeeds
/// completely or changes nothing.
/// </summary>
public static class StateDictLoader
{
    /// <summary>Loads <paramref name="stateDict"/> into <paramref name="module"/>.</summary>
    /// <param name="module">The module whose parameters and buffers receive the tensors.</param>
    /// <param name="stateDict">The tensors, under the file's names.</param>
    /// <param name="keyMap">Maps a file key to a module path; when null, keys are used as they are.</param>
    /// <param name="strict">When true (the default), any missing or unexpected key is an error; when false
    /// they are only reported. Shape mismatches are always an error.</param>
    /// <param name="allowNonFinite">When false (the default), floating-point tensors holding NaN or infinite
    /// values are refused; when true they are loaded as they are.</param>
    /// <exception cref="StateDictMismatchException">The state dict does not fit; nothing was copied.</exception>
    /// <exception cref="NonFiniteWeightsException">Tensors hold NaN or infinite values (and
    /// <paramref name="allowNonFinite"/> is false); nothing was copied.</exception>
    public static StateDictLoadReport Load(nn.Module module, StateDict stateDict, Func<string, string>? keyMap = null, bool strict = true, bool allowNonFinite = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(stateDict);
        Dictionary<string, Tensor> targets = module.state_dict();
        var mapped = new Dictionary<string, (string FileKey, TensorData Tensor)>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var shapes = new List<string>();
        foreach (var (fileKey, tensor) in stateDict)
        {
            string key = keyMap is null ? fileKey : keyMap(fileKey);
            string label = key == fileKey ? $"{key}" : $"{fileKey} -> {key}";
            if (mapped.TryGetValue(key, out var first))
            {
                throw new StateDictMismatchException(Array.Empty<string>(), new[] { $"{label} (also mapped from {first.FileKey})" }, Array.Empty<string>());
            }

            if (!targets.TryGetValue(key, out Tensor? target))
            {
                unexpected.Add(label);
                continue;
            }

            mapped[key] = (fileKey, tensor);
            if (!target.shape.SequenceEqual(tensor.Shape))
            {
                shapes.Add($"{label}: file {tensor.ShapeText} vs module [{string.Join(", ", target.shape)}]");
            }
        }

        var missing = targets.Keys.Where(k => !mapped.ContainsKey(k)).ToList();
        if (shapes.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
        {
            throw new StateDictMismatchException(missing, unexpected, shapes);
        }

        if (!allowNonFinite)
        {
            CheckFinite(mapped);
        }

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            foreach (var (key, (_, tensor)) in mapped)
            {
                targets[key].copy_(tensor.ToTensor());
            }
        }

        return new StateDictLoadReport(mapped.Keys.ToList(), missing, unexpected);
    }

    /// <summary>Reads <paramref name="path"/> (any <see cref="WeightFile"/> format) and loads it into <paramref name="module"/>.</summary>
    /// <param name="module">The module whose parameters and buffers receive the tensors.</param>
    /// <param name="path">The weight file.</param>
    /// <param name="keyMap">Maps a file key to a module path; when null, keys are used as they are.</param>
    /// <param name="strict">When true (the default), any missing or unexpected key is an error.</param>
    /// <param name="options">Reading limits and <see cref="WeightLoadOptions.AllowNonFinite"/>; defaults when null.</param>
    /// <exception cref="WeightFormatException">The file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The file does not fit the module; nothing was copied.</exception>
    /// <exception cref="NonFiniteWeightsException">Tensors hold NaN or infinite values; nothing was copied.</exception>
    public static StateDictLoadReport LoadFile(nn.Module module, string path, Func<string, string>? keyMap = null, bool strict = true, WeightLoadOptions? options = null)
    {
        options ??= WeightLoadOptions.Default;
        return Load(module, WeightFile.Load(path, options), keyMap, strict, options.AllowNonFinite);
    }

    private static void CheckFinite(Dictionary<string, (string FileKey, TensorData Tensor)> mapped)
    {
        var names = new List<string>();
        var details = new List<string>();
        foreach (var (key, (fileKey, tensor)) in mapped)
        {
            (long nan, long infinite) = tensor.CountNonFinite();
            if (nan + infinite > 0)
            {
                string counts = string.Join(", ", new[] { nan > 0 ? $"{nan} NaN" : null, infinite > 0 ? $"{infinite} infinite" : null }.OfType<string>());
                names.Add(fileKey);
                details.Add($"'{(key == fileKey ? key : $"{fileKey} -> {key}")}' ({counts} of {tensor.ElementCount})");
            }
        }

        if (names.Count > 0)
        {
            throw new NonFiniteWeightsException(names, details);
        }
    }
}
