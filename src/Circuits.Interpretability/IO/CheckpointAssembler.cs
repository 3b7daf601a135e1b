namespace Circuits.Interpretability.IO;

/// <summary>
/// Turns the object a checkpoint's pickle built into a <see cref="StateDict"/>, within budgets: the walk over
/// nested dicts is charged per node (memo-shared dicts cannot expand into a huge tree), every view is checked
/// against its storage before anything is read, and the bytes the tensors need are checked against
/// <see cref="WeightLoadOptions"/> before the storages are read.
/// </summary>
internal static class CheckpointAssembler
{
    /// <summary>The walk may visit this many nodes (plus the lengths of the names it builds) per pickle byte.</summary>
    public const int NodesPerPickleByte = 2;

    /// <summary>The walk's budget for any pickle, however small.</summary>
    public const int MinimumNodeBudget = 4096;

    /// <summary>Nested dicts deeper than this are refused.</summary>
    public const int MaxDepth = 16;

    /// <param name="root">What the pickle built.</param>
    /// <param name="source">The file name for messages.</param>
    /// <param name="pickleBytes">The pickle's size, which sets the walk's budget.</param>
    /// <param name="options">The limits.</param>
    /// <param name="readStorages">Reads the referenced span of every storage given (the format's part).</param>
    public static StateDict Assemble(object? root, string source, long pickleBytes, WeightLoadOptions options, Action<IReadOnlyList<StorageRef>> readStorages)
    {
        if (root is not PyDict dict)
        {
            throw new WeightFormatException($"{source}: the checkpoint holds {PickleReader.Describe(root)}; expected a state dict (a dict of tensors), as torch.save(model.state_dict()) writes.");
        }

        var entries = new List<KeyValuePair<string, StorageView>>();
        long budget = Math.Max(MinimumNodeBudget, NodesPerPickleByte * pickleBytes);
        Flatten(dict, "", entries, source, ref budget, 0);

        var storages = new List<StorageRef>();
        var seenStorages = new HashSet<StorageRef>(ReferenceEqualityComparer.Instance);
        var seenViews = new HashSet<StorageView>(ReferenceEqualityComparer.Instance);
        long output = 0;
        foreach (var (name, view) in entries)
        {
            if (!seenViews.Add(view))
            {
                continue;
            }

            view.Validate(source, name);
            output += view.OutputBytes;
            if (seenStorages.Add(view.Storage))
            {
                storages.Add(view.Storage);
            }
        }

        if (storages.FirstOrDefault(s => s.SpanBytes > Array.MaxLength) is StorageRef wide)
        {
            throw new WeightFormatException($"{source}: the tensors view {wide.SpanBytes} bytes of storage '{wide.Key}'; at most {Array.MaxLength} bytes of one storage are supported.");
        }

        long needed = storages.Sum(s => s.SpanBytes);
        CheckBudget(source, options, needed, output);
        readStorages(storages.Where(s => s.IsReferenced).ToList());
        try
        {
            return new StateDict(entries.Select(e => KeyValuePair.Create(e.Key, e.Value.Materialize(source))));
        }
        catch (ArgumentException e)
        {
            throw new WeightFormatException($"{source}: {e.Message}", e);
        }
    }

    private static void CheckBudget(string source, WeightLoadOptions options, long needed, long output)
    {
        if (needed > options.MaxTotalBytes || output > options.MaxTotalBytes)
        {
            throw new WeightFormatException($"{source}: the tensors need {Math.Max(needed, output)} bytes, more than WeightLoadOptions.MaxTotalBytes ({options.MaxTotalBytes}). " +
                "Raise the limit if you trust the file.");
        }

        if (output - needed > options.MaxViewExpansionBytes)
        {
            throw new WeightFormatException($"{source}: the tensors take {output} bytes when copied out but their storages hold only {needed} bytes of them: views repeat elements " +
                $"(stride 0) or share storages by {output - needed} bytes, more than WeightLoadOptions.MaxViewExpansionBytes ({options.MaxViewExpansionBytes}). Raise the limit if you trust the file.");
        }
    }

    private static void Flatten(PyDict dict, string prefix, List<KeyValuePair<string, StorageView>> entries, string source, ref long budget, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new WeightFormatException($"{source}: dicts nested deeper than {MaxDepth} levels; expected a state dict.");
        }

        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
            {
                throw new WeightFormatException($"{source}: a state-dict key is {PickleReader.Describe(key)}; expected strings.");
            }

            // Every node visited costs 1 plus the length of the name it builds: a dict shared through the memo
            // is walked once per reference, and this keeps the walk (and the names) linear in the pickle's size.
            budget -= 1 + prefix.Length + name.Length;
            if (budget < 0)
            {
                throw new WeightFormatException($"{source}: walking the pickle's dicts visits far more entries than the pickle's size allows " +
                    $"({NodesPerPickleByte} per byte): dicts shared through the memo expand into a huge tree. The file is corrupted or malicious.");
            }

            switch (value)
            {
                case StorageView view:
                    entries.Add(KeyValuePair.Create(prefix + name, view));
                    break;
                case PyDict nested:
                    // A checkpoint such as {"state_dict": {...}, "epoch": 3}: nested tensors get dotted names.
                    Flatten(nested, prefix + name + ".", entries, source, ref budget, depth + 1);
                    break;
                default:
                    // Numbers, strings and other non-tensor entries of a training checkpoint carry no weights.
                    break;
            }
        }
    }
}
