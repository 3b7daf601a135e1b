using Circuits.Interpretability.IO;

namespace Circuits.Interpretability.Models;

/// <summary>
/// The one place that finds InceptionV1's weights and names them: the CLI, the quick start and the samples all
/// locate the file here, so the same weights get the same model id (and the same render-catalog keys) everywhere.
/// </summary>
public static class InceptionV1Weights
{
    /// <summary>The model name at the start of every InceptionV1 model id.</summary>
    public const string ModelName = "inceptionv1";

    /// <summary>
    /// Locates the weights: <paramref name="path"/> when given (it must exist), else <c>inception5h.pth</c> in
    /// <paramref name="cache"/> (the default cache when null), else null.
    /// </summary>
    /// <exception cref="WeightFileNotFoundException"><paramref name="path"/> names no file.</exception>
    public static WeightsLocation? Locate(string? path = null, ModelCache? cache = null) =>
        WeightsLocation.Find(ModelRegistry.Inception5h, ModelName, path, cache);

    /// <summary>
    /// The render-catalog recipe name of renders through <see cref="InceptionV1.Preprocess"/> (Lucid's input convention);
    /// with <see cref="WeightsLocation.ModelId"/> it makes catalog keys that agree wherever InceptionV1 is rendered.
    /// </summary>
    public const string CatalogRecipe = "inceptionv1-preprocess";

    /// <summary>The model id of seeded random weights: <c>inceptionv1/random-seed=N</c>.</summary>
    public static string RandomModelId(int seed) => $"{ModelName}/random-seed={seed}";

    /// <summary>What to do when the weights are not found: where the cache expects them, where to download them, and the options.</summary>
    public static string Guidance(ModelCache? cache = null)
    {
        cache ??= new ModelCache();
        return $"""
            InceptionV1's weights were not found. They are Lucid's inception5h weights as a PyTorch state dict:
              download: {ModelRegistry.Inception5h.Url}
              and save it as: {cache.PathFor(ModelRegistry.Inception5h)}
              (the cache folder is $CIRCUITS_CACHE, else $XDG_CACHE_HOME/circuits, else ~/.cache/circuits)
            or pass the file with --weights PATH (a .pth or .safetensors file). --random-weights runs with seeded random
            weights for a shape and flow check (its images mean nothing).
            """;
    }
}
