using System.Buffers.Binary;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.IO;

/// <summary>
/// One tensor as a weight file stores it: an element type, a shape and the elements in row-major
/// (C-contiguous) order as little-endian bytes. It lives in managed memory and needs no native library;
/// <see cref="ToTensor"/> turns it into a TorchSharp tensor.
/// </summary>
public sealed class TensorData
{
    private readonly byte[] _data;
    private readonly long[] _shape;

    /// <summary>Creates a tensor from contiguous little-endian bytes.</summary>
    /// <exception cref="ArgumentException">A dimension is negative or the byte count is not elements x element size.</exception>
    public TensorData(TensorDType dtype, IReadOnlyList<long> shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        string? problem = ShapeProblem(shape, dtype);
        if (problem is not null)
        {
            throw new ArgumentException(problem, nameof(shape));
        }

        long count = ElementCountOf(shape);

        if (count * dtype.ElementSize() != data.LongLength)
        {
            throw new ArgumentException($"A {dtype} tensor of shape [{string.Join(", ", shape)}] needs {count * dtype.ElementSize()} bytes; {data.LongLength} were given.", nameof(data));
        }

        DType = dtype;
        _shape = shape.ToArray();
        _data = data;
    }

    /// <summary>The element type.</summary>
    public TensorDType DType { get; }

    /// <summary>The dimensions; empty for a scalar.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The number of elements (1 for a scalar).</summary>
    public long ElementCount => _data.LongLength / DType.ElementSize();

    /// <summary>The elements as little-endian bytes in row-major order.</summary>
    public ReadOnlyMemory<byte> Data => _data;

    /// <summary>The shape written as <c>[a, b, c]</c>.</summary>
    public string ShapeText => $"[{string.Join(", ", _shape)}]";

    /// <summary>Creates a float32 tensor from values in row-major order.</summary>
    public static TensorData FromFloats(IReadOnlyList<long> shape, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return new TensorData(TensorDType.Float32, shape, bytes);
    }

    /// <summary>Copies a TorchSharp tensor (any device, any layout) into managed memory, keeping its element type.</summary>
    /// <exception cref="WeightFormatException">The tensor's element type has no <see cref="TensorDType"/>.</exception>
    public static TensorData FromTensor(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!TensorDTypes.TryFromScalarType(tensor.dtype, out TensorDType dtype))
        {
            throw new WeightFormatException($"Tensors of type {tensor.dtype} cannot be stored; expected one of {string.Join(", ", Enum.GetNames<TensorDType>())}.");
        }

        using var scope = NewDisposeScope();
        Tensor t = tensor.detach().cpu().contiguous();
        byte[] bytes = dtype switch
        {
            TensorDType.Float32 => LittleEndian(MemoryMarshal.AsBytes(t.data<float>().ToArray().AsSpan()).ToArray(), 4),
            TensorDType.Float64 => LittleEndian(MemoryMarshal.AsBytes(t.data<double>().ToArray().AsSpan()).ToArray(), 8),
            TensorDType.Int64 => LittleEndian(MemoryMarshal.AsBytes(t.data<long>().ToArray().AsSpan()).ToArray(), 8),
            TensorDType.Int32 => LittleEndian(MemoryMarshal.AsBytes(t.data<int>().ToArray().AsSpan()).ToArray(), 4),
            TensorDType.Int16 => LittleEndian(MemoryMarshal.AsBytes(t.data<short>().ToArray().AsSpan()).ToArray(), 2),
            TensorDType.Int8 => MemoryMarshal.AsBytes(t.data<sbyte>().ToArray().AsSpan()).ToArray(),
            TensorDType.UInt8 => t.data<byte>().ToArray(),
            TensorDType.Bool => t.data<bool>().ToArray().Select(b => b ? (byte)1 : (byte)0).ToArray(),
            TensorDType.Float16 => HalfBytes(t.to_type(ScalarType.Float32).data<float>().ToArray()),
            TensorDType.BFloat16 => BFloat16Bytes(t.to_type(ScalarType.Float32).data<float>().ToArray()),
            _ => throw new WeightFormatException($"Tensors of type {dtype} cannot be stored."),
        };
        return new TensorData(dtype, tensor.shape, bytes);
    }

    /// <summary>The elements converted to float64, in row-major order (booleans as 0 and 1).</summary>
    public double[] ToDoubleArray()
    {
        long count = ElementCount;
        var values = new double[count];
        ReadOnlySpan<byte> d = _data;
        for (long i = 0; i < count; i++)
        {
            int o = checked((int)(i * DType.ElementSize()));
            values[i] = DType switch
            {
                TensorDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(d[o..]),
                TensorDType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(d[o..]),
                TensorDType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(d[o..]),
                TensorDType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d[o..]) << 16),
                TensorDType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(d[o..]),
                TensorDType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(d[o..]),
                TensorDType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(d[o..]),
                TensorDType.Int8 => (sbyte)d[o],
                TensorDType.UInt8 => d[o],
                TensorDType.Bool => d[o] != 0 ? 1 : 0,
                _ => throw new InvalidOperationException(),
            };
        }

        return values;
    }

    /// <summary>How many elements are NaN and how many are infinite (both 0 for integer and boolean tensors).</summary>
    public (long NaN, long Infinite) CountNonFinite()
    {
        long nan = 0, infinite = 0;
        if (!DType.IsFloatingPoint())
        {
            return (0, 0);
        }

        ReadOnlySpan<byte> d = _data;
        if (DType == TensorDType.Float32 && BitConverter.IsLittleEndian)
        {
            foreach (float f in MemoryMarshal.Cast<byte, float>(d))
            {
                if (!float.IsFinite(f))
                {
                    nan += float.IsNaN(f) ? 1 : 0;
                    infinite += float.IsNaN(f) ? 0 : 1;
                }
            }

            return (nan, infinite);
        }

        int size = DType.ElementSize();
        for (int o = 0; o < d.Length; o += size)
        {
            double v = DType switch
            {
                TensorDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(d[o..]),
                TensorDType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(d[o..]),
                TensorDType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(d[o..]),
                TensorDType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(d[o..]) << 16),
                _ => 0,
            };
            if (double.IsNaN(v))
            {
                nan++;
            }
            else if (double.IsInfinity(v))
            {
                infinite++;
            }
        }

        return (nan, infinite);
    }

    /// <summary>The elements converted to float32, in row-major order.</summary>
    public float[] ToFloatArray() => Array.ConvertAll(ToDoubleArray(), v => (float)v);

    /// <summary>Creates a CPU TorchSharp tensor with this element type and shape (float16 and bfloat16 included).</summary>
    public Tensor ToTensor()
    {
        ReadOnlySpan<byte> d = _data;
        long[] shape = _shape;
        switch (DType)
        {
            case TensorDType.Float32:
                return tensor(ReadAll(d, 4, BinaryPrimitives.ReadSingleLittleEndian), shape);
            case TensorDType.Float64:
                return tensor(ReadAll(d, 8, BinaryPrimitives.ReadDoubleLittleEndian), shape);
            case TensorDType.Int64:
                return tensor(ReadAll(d, 8, BinaryPrimitives.ReadInt64LittleEndian), shape);
            case TensorDType.Int32:
                return tensor(ReadAll(d, 4, BinaryPrimitives.ReadInt32LittleEndian), shape);
            case TensorDType.Int16:
                return tensor(ReadAll(d, 2, BinaryPrimitives.ReadInt16LittleEndian), shape);
            case TensorDType.Int8:
                return tensor(MemoryMarshal.Cast<byte, sbyte>(d).ToArray(), shape);
            case TensorDType.UInt8:
                return tensor(d.ToArray(), shape);
            case TensorDType.Bool:
                return tensor(d.ToArray().Select(b => b != 0).ToArray(), shape);
            case TensorDType.Float16:
            case TensorDType.BFloat16:
                {
                    // Every half and bfloat16 value is exact in float32, so the round trip loses nothing.
                    using Tensor wide = tensor(ToFloatArray(), shape);
                    return wide.to_type(DType.ToScalarType());
                }

            default:
                throw new InvalidOperationException($"Unknown dtype {DType}.");
        }
    }

    /// <summary>
    /// Why a shape cannot be a tensor, or null when it can: a negative dimension, or dimensions that (zeros
    /// counted as 1) multiply to more bytes than a signed 64-bit integer holds. libtorch computes the strides
    /// of every tensor, empty ones included, and fails with an untyped error on such a shape
    /// ("Stride calculation overflowed"), so a 0-element tensor of shape [0, 2^40, 2^40] is refused here.
    /// </summary>
    internal static string? ShapeProblem(IReadOnlyList<long> shape, TensorDType dtype)
    {
        long bytes = dtype.ElementSize();
        foreach (long dim in shape)
        {
            if (dim < 0)
            {
                return $"shape [{string.Join(", ", shape)}] has a negative dimension";
            }

            long factor = Math.Max(dim, 1);
            if (bytes > long.MaxValue / factor)
            {
                return $"shape [{string.Join(", ", shape)}] is too large: its dimensions{(shape.Contains(0) ? " other than 0" : "")} multiply to more than 2^63 bytes of {dtype}, " +
                    "which no tensor library can index" + (shape.Contains(0) ? " (even though the tensor holds no elements)" : "");
            }

            bytes *= factor;
        }

        return null;
    }

    /// <summary>The element count of a shape, or -1 when a dimension is negative or the product overflows.</summary>
    internal static long ElementCountOf(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0)
            {
                return -1;
            }

            if (dim != 0 && count > long.MaxValue / dim)
            {
                return -1;
            }

            count *= dim;
        }

        return count;
    }

    private delegate T Reader<T>(ReadOnlySpan<byte> source);

    private static T[] ReadAll<T>(ReadOnlySpan<byte> data, int size, Reader<T> read)
    {
        var values = new T[data.Length / size];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = read(data.Slice(i * size, size));
        }

        return values;
    }

    private static byte[] LittleEndian(byte[] bytes, int size)
    {
        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < bytes.Length; i += size)
            {
                Array.Reverse(bytes, i, size);
            }
        }

        return bytes;
    }

    private static byte[] HalfBytes(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
        }

        return bytes;
    }

    private static byte[] BFloat16Bytes(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
        {
            // The values came from a bfloat16 tensor, so the low 16 bits are zero and truncation is exact.
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToInt32Bits(values[i]) >>> 16));
        }

        return bytes;
    }
}
