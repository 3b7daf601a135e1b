using System.Numerics;

namespace Circuits.Interpretability.IO;

/// <summary>
/// A storage named by a persistent id of a PyTorch pickle. Only the elements its tensors reference are read:
/// <see cref="SpanStart"/> to <see cref="SpanEnd"/>, widened by <see cref="Include"/> for every view.
/// </summary>
internal sealed class StorageRef
{
    public StorageRef(string key, TensorDType dtype, long elementCount)
    {
        Key = key;
        DType = dtype;
        ElementCount = elementCount;
    }

    public string Key { get; }

    public TensorDType DType { get; }

    public long ElementCount { get; }

    public long ByteLength => ElementCount * DType.ElementSize();

    /// <summary>The first element any view reads (inclusive); <see cref="long.MaxValue"/> while none does.</summary>
    public long SpanStart { get; private set; } = long.MaxValue;

    /// <summary>One past the last element any view reads.</summary>
    public long SpanEnd { get; private set; }

    /// <summary>True when some view reads at least one element.</summary>
    public bool IsReferenced => SpanEnd > 0;

    public long SpanStartBytes => IsReferenced ? SpanStart * DType.ElementSize() : 0;

    public long SpanBytes => IsReferenced ? (SpanEnd - SpanStart) * DType.ElementSize() : 0;

    /// <summary>The bytes of elements [<see cref="SpanStart"/>, <see cref="SpanEnd"/>), once read.</summary>
    public byte[]? Data { get; set; }

    /// <summary>Where the format keeps the storage's bytes (the zip entry), if it knows before reading.</summary>
    public object? Location { get; init; }

    public void Include(long first, long last)
    {
        SpanStart = Math.Min(SpanStart, first);
        SpanEnd = Math.Max(SpanEnd, last + 1);
    }
}

/// <summary>
/// A tensor of a PyTorch checkpoint before its data is read: a view of a storage with an offset, sizes and
/// strides, as <c>torch._utils._rebuild_tensor_v2</c> receives them. Strides of 0 (expanded tensors) are
/// accepted, as <c>torch.load</c> accepts them; the copy is always contiguous. One view referenced under
/// several keys (tied weights) is copied once and shared.
/// </summary>
internal sealed class StorageView
{
    private TensorData? _result;

    public StorageView(StorageRef storage, long offset, long[] size, long[] stride)
    {
        Storage = storage;
        Offset = offset;
        Size = size;
        Stride = stride;
    }

    public StorageRef Storage { get; }

    public long Offset { get; }

    public long[] Size { get; }

    public long[] Stride { get; }

    /// <summary>The number of elements (set by <see cref="Validate"/>).</summary>
    public long Count { get; private set; }

    /// <summary>The bytes of the contiguous copy.</summary>
    public long OutputBytes => Count * Storage.DType.ElementSize();

    private string ShapeText => $"[{string.Join(", ", Size)}]";

    /// <summary>Checks the view against its storage and records the elements it reads.</summary>
    public void Validate(string source, string name)
    {
        if (Size.Length != Stride.Length)
        {
            throw new WeightFormatException($"{source}: tensor '{name}' of shape {ShapeText} has {Stride.Length} strides; expected {Size.Length}.");
        }

        string? problem = TensorData.ShapeProblem(Size, Storage.DType);
        if (problem is not null)
        {
            throw new WeightFormatException($"{source}: tensor '{name}': {problem}.");
        }

        Count = TensorData.ElementCountOf(Size);
        if (OutputBytes > Array.MaxLength)
        {
            throw new WeightFormatException($"{source}: tensor '{name}' of shape {ShapeText} takes {OutputBytes} bytes; at most {Array.MaxLength} bytes per tensor are supported.");
        }

        if (Count == 0)
        {
            return;
        }

        // The last element the view touches must lie inside the storage.
        BigInteger last = Offset;
        for (int d = 0; d < Size.Length; d++)
        {
            last += (BigInteger)(Size[d] - 1) * Stride[d];
        }

        if (Offset < 0 || last >= Storage.ElementCount)
        {
            throw new WeightFormatException($"{source}: tensor '{name}' of shape {ShapeText}, offset {Offset} and strides ({string.Join(", ", Stride)}) reaches element {last} of storage '{Storage.Key}', which has {Storage.ElementCount}.");
        }

        Storage.Include(Offset, (long)last);
    }

    /// <summary>Copies the view out of its storage's bytes (once; later calls return the same tensor).</summary>
    public TensorData Materialize(string source)
    {
        if (_result is not null)
        {
            return _result;
        }

        int size = Storage.DType.ElementSize();
        var output = new byte[OutputBytes];
        if (Count > 0)
        {
            byte[] data = Storage.Data ?? throw new WeightFormatException($"{source}: the data of storage '{Storage.Key}' is missing (truncated).");
            Copy(data, Offset - Storage.SpanStart, output, size);
        }

        _result = new TensorData(Storage.DType, Size, output);
        return _result;
    }

    private void Copy(byte[] source, long start, byte[] output, int size)
    {
        int dims = Size.Length;
        long expectedStride = 1;
        bool contiguous = true;
        for (int d = dims - 1; d >= 0; d--)
        {
            if (Size[d] != 1 && Stride[d] != expectedStride)
            {
                contiguous = false;
                break;
            }

            expectedStride *= Size[d];
        }

        if (contiguous)
        {
            Buffer.BlockCopy(source, checked((int)(start * size)), output, 0, output.Length);
            return;
        }

        var index = new long[dims];
        long position = start;
        for (long i = 0; i < Count; i++)
        {
            Buffer.BlockCopy(source, checked((int)(position * size)), output, checked((int)(i * size)), size);
            for (int d = dims - 1; d >= 0; d--)
            {
                index[d]++;
                position += Stride[d];
                if (index[d] < Size[d])
                {
                    break;
                }

                position -= Stride[d] * Size[d];
                index[d] = 0;
            }
        }
    }
}
