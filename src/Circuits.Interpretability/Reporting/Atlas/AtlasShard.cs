using System.Collections;
using System.Globalization;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// Which part of an atlas one process builds: shard <see cref="Index"/> of <see cref="Count"/> (0-based). Shards are
/// disjoint and together cover the atlas (round robin over the render catalog's batches, see
/// <see cref="RenderCatalog.Shard"/>). A batch scheduler sets the shard for each task: <see cref="FromEnvironment"/>
/// reads a Kubernetes Indexed Job or a Slurm job array.
/// </summary>
/// <param name="Index">This shard, 0 to <paramref name="Count"/> - 1.</param>
/// <param name="Count">How many shards there are.</param>
public readonly record struct AtlasShard(int Index, int Count)
{
    /// <summary>The environment variable that carries a Kubernetes Indexed Job's completion count (set it in the manifest to <c>spec.completions</c>).</summary>
    public const string CountVariable = "CIRCUITS_SHARD_COUNT";

    /// <summary>The whole atlas in one process: shard 0 of 1.</summary>
    public static AtlasShard Single => new(0, 1);

    /// <summary>True when this shard is the whole atlas.</summary>
    public bool IsSingle => Count == 1;

    /// <summary>Parses <c>i/n</c> (0-based: <c>0/4</c> to <c>3/4</c>).</summary>
    /// <exception cref="AtlasException">The text is not of that form, or i is not below n.</exception>
    public static AtlasShard Parse(string text)
    {
        try
        {
            var (index, count) = RenderCatalog.ParseShard(text);
            return new AtlasShard(index, count);
        }
        catch (ArgumentException e)
        {
            throw new AtlasException(e.Message.Split(" (Parameter")[0], e);
        }
    }

    /// <summary>
    /// The shard a batch scheduler assigned to this process, or null when none did:
    /// <list type="bullet">
    /// <item><b>Kubernetes Indexed Job</b>: <c>JOB_COMPLETION_INDEX</c> is the index (Kubernetes sets it); the count is
    /// <c>CIRCUITS_SHARD_COUNT</c>, which the manifest sets to the Job's <c>spec.completions</c> (Kubernetes does not
    /// pass the count to the pod).</item>
    /// <item><b>Slurm job array</b>: the index is (<c>SLURM_ARRAY_TASK_ID</c> − <c>SLURM_ARRAY_TASK_MIN</c>) /
    /// <c>SLURM_ARRAY_TASK_STEP</c> (an array may start at 1, or step by 2), the count <c>SLURM_ARRAY_TASK_COUNT</c>.
    /// Irregular arrays (<c>--array=1,4,9</c>) are refused: they cannot be numbered 0 to n − 1.</item>
    /// </list>
    /// Kubernetes wins when both are set.
    /// </summary>
    /// <param name="environment">The variables to read; null: this process's environment.</param>
    /// <exception cref="AtlasException">A scheduler's variables are present but incomplete or inconsistent; the message names them.</exception>
    public static AtlasShard? FromEnvironment(IReadOnlyDictionary<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);
        string? Get(string name) => environment.TryGetValue(name, out string? value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        if (Get("JOB_COMPLETION_INDEX") is string k8sIndex)
        {
            int index = Number("JOB_COMPLETION_INDEX", k8sIndex);
            string count = Get(CountVariable) ?? throw new AtlasException(
                $"JOB_COMPLETION_INDEX is {k8sIndex} (a Kubernetes Indexed Job), but {CountVariable} is not set; Kubernetes does not tell a pod the completion count, so set {CountVariable} in the manifest to the Job's spec.completions (see docs/scale-out.md).");
            return Checked(index, Number(CountVariable, count), $"JOB_COMPLETION_INDEX={k8sIndex}, {CountVariable}={count}");
        }

        if (Get("SLURM_ARRAY_TASK_ID") is string slurmId)
        {
            int id = Number("SLURM_ARRAY_TASK_ID", slurmId);
            string count = Get("SLURM_ARRAY_TASK_COUNT") ?? throw new AtlasException(
                $"SLURM_ARRAY_TASK_ID is {slurmId}, but SLURM_ARRAY_TASK_COUNT is not set; run the build as a Slurm job array (sbatch --array=0-N), or pass --shard i/n.");
            int min = Get("SLURM_ARRAY_TASK_MIN") is string m ? Number("SLURM_ARRAY_TASK_MIN", m) : 0;
            int step = Get("SLURM_ARRAY_TASK_STEP") is string s ? Number("SLURM_ARRAY_TASK_STEP", s) : 1;
            string seen = $"SLURM_ARRAY_TASK_ID={slurmId}, SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_STEP={step}, SLURM_ARRAY_TASK_COUNT={count}";
            if (step <= 0 || id < min || (id - min) % step != 0)
            {
                throw new AtlasException($"The Slurm array task ({seen}) cannot be numbered as a shard: use a regular array such as --array=0-{Number("SLURM_ARRAY_TASK_COUNT", count) - 1}, or pass --shard i/n.");
            }

            return Checked((id - min) / step, Number("SLURM_ARRAY_TASK_COUNT", count), seen + " (irregular arrays such as --array=1,4,9 cannot be numbered 0 to n - 1)");
        }

        return null;
    }

    /// <summary>
    /// The shard to build: <paramref name="explicitShard"/> (<c>i/n</c>, for example from <c>--shard</c>) when given, else
    /// the scheduler's (<see cref="FromEnvironment"/>), else <see cref="Single"/>.
    /// </summary>
    /// <exception cref="AtlasException">The text or the scheduler's variables are not valid.</exception>
    public static AtlasShard Resolve(string? explicitShard, IReadOnlyDictionary<string, string?>? environment = null) =>
        explicitShard is not null ? Parse(explicitShard) : FromEnvironment(environment) ?? Single;

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");

    private static int Number(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new AtlasException($"{name} is '{value}'; expected a whole number of 0 or more.");

    private static AtlasShard Checked(int index, int count, string seen) =>
        count > 0 && index < count
            ? new AtlasShard(index, count)
            : throw new AtlasException($"The scheduler's shard is not valid ({seen}): expected 0 <= index < count.");
}
