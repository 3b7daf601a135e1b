namespace Circuits.Interpretability.IO;

/// <summary>
/// What the allow-listed globals of a state-dict pickle mean: the functions a REDUCE may apply
/// (<c>collections.OrderedDict</c>, the tensor rebuild functions) and the storage references of persistent ids.
/// Nothing is executed; each call builds a plain value.
/// </summary>
internal static class TorchCalls
{
    /// <summary>Applies an allow-listed global to its arguments.</summary>
    public static object? Call(PyGlobal global, PyTuple args, string source)
    {
        object?[] a = args.Items;
        switch (global.FullName)
        {
            case "collections.OrderedDict":
                if (a.Length != 0)
                {
                    throw new UnsafePickleException($"{source}: collections.OrderedDict called with {a.Length} arguments; a state dict calls it with none.");
                }

                return new PyDict();
            case "torch._utils._rebuild_tensor":
            case "torch._utils._rebuild_tensor_v2":
                if (a.Length < 4 || a[0] is not StorageRef storage || a[1] is not long offset || a[2] is not PyTuple size || a[3] is not PyTuple stride)
                {
                    throw new WeightFormatException($"{source}: {global.FullName} called with {Describe(args)}; expected (storage, offset, size tuple, stride tuple, ...).");
                }

                return new StorageView(storage, offset, Longs(size, "size", source), Longs(stride, "stride", source));
            case "torch._utils._rebuild_parameter":
                if (a.Length < 1 || a[0] is not StorageView data)
                {
                    throw new WeightFormatException($"{source}: torch._utils._rebuild_parameter called with {Describe(args)}; expected a tensor first.");
                }

                return data;
            default:
                throw new UnsafePickleException($"{source}: the pickle calls '{global.FullName}', which is not a function; nothing was executed.");
        }
    }

    /// <summary>Reads a persistent id <c>('storage', storage type, key, location, element count[, view info])</c>.</summary>
    public static StorageRef ParseStorageId(PyTuple pid, string source, bool legacy, object? location = null)
    {
        object?[] p = pid.Items;
        if (p.Length < 5 || p[0] is not "storage" || p[1] is not PyGlobal type || p[2] is not string key || p[4] is not long count)
        {
            throw new WeightFormatException($"{source}: persistent id {Describe(pid)} is not a storage reference; expected ('storage', <storage type>, key, location, element count).");
        }

        if (legacy && p.Length > 5 && p[5] is not null)
        {
            throw new WeightFormatException($"{source}: storage '{key}' is a storage view (pre-0.4 PyTorch), which is not supported; re-save the state dict with a newer PyTorch.");
        }

        TensorDType dtype = StorageType(type, source);
        if (count < 0 || count > long.MaxValue / 8)
        {
            throw new WeightFormatException($"{source}: storage '{key}' declares {count} elements; expected a count from 0 to the file size.");
        }

        return new StorageRef(key, dtype, count) { Location = location };
    }

    /// <summary>Reads the key of a persistent id without checking the rest (to find the storage's zip entry).</summary>
    public static string? KeyOf(PyTuple pid) => pid.Items.Length >= 3 ? pid.Items[2] as string : null;

    public static string Describe(PyTuple tuple) =>
        "(" + string.Join(", ", tuple.Items.Select(i => i is long or string ? i.ToString() : PickleReader.Describe(i))) + ")";

    private static TensorDType StorageType(PyGlobal type, string source) => type.Name switch
    {
        "FloatStorage" => TensorDType.Float32,
        "DoubleStorage" => TensorDType.Float64,
        "HalfStorage" => TensorDType.Float16,
        "BFloat16Storage" => TensorDType.BFloat16,
        "LongStorage" => TensorDType.Int64,
        "IntStorage" => TensorDType.Int32,
        "ShortStorage" => TensorDType.Int16,
        "CharStorage" => TensorDType.Int8,
        "ByteStorage" => TensorDType.UInt8,
        "BoolStorage" => TensorDType.Bool,
        _ => throw new UnsafePickleException($"{source}: storage type '{type.FullName}' is not supported."),
    };

    private static long[] Longs(PyTuple tuple, string what, string source)
    {
        if (tuple.Items.Length > 64)
        {
            throw new WeightFormatException($"{source}: a tensor {what} has {tuple.Items.Length} dimensions; at most 64 are supported.");
        }

        var values = new long[tuple.Items.Length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = tuple.Items[i] is long v && v >= 0
                ? v
                : throw new WeightFormatException($"{source}: tensor {what} {Describe(tuple)} holds {PickleReader.Describe(tuple.Items[i])} ({tuple.Items[i]}); expected non-negative integers.");
        }

        return values;
    }
}
