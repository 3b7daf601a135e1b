using static TorchSharp.torch;

namespace Circuits.Interpretability.IO;

/// <summary>The element types a weight file may store.</summary>
public enum TensorDType
{
    /// <summary>IEEE 754 single precision (safetensors <c>F32</c>, PyTorch <c>FloatStorage</c>).</summary>
    Float32,

    /// <summary>IEEE 754 double precision (<c>F64</c>, <c>DoubleStorage</c>).</summary>
    Float64,

    /// <summary>IEEE 754 half precision (<c>F16</c>, <c>HalfStorage</c>).</summary>
    Float16,

    /// <summary>Brain floating point: the upper 16 bits of a float32 (<c>BF16</c>, <c>BFloat16Storage</c>).</summary>
    BFloat16,

    /// <summary>64-bit signed integer (<c>I64</c>, <c>LongStorage</c>).</summary>
    Int64,

    /// <summary>32-bit signed integer (<c>I32</c>, <c>IntStorage</c>).</summary>
    Int32,

    /// <summary>16-bit signed integer (<c>I16</c>, <c>ShortStorage</c>).</summary>
    Int16,

    /// <summary>8-bit signed integer (<c>I8</c>, <c>CharStorage</c>).</summary>
    Int8,

    /// <summary>8-bit unsigned integer (<c>U8</c>, <c>ByteStorage</c>).</summary>
    UInt8,

    /// <summary>Boolean stored as one byte, 0 or 1 (<c>BOOL</c>, <c>BoolStorage</c>).</summary>
    Bool,
}

/// <summary>Sizes and names of <see cref="TensorDType"/> values.</summary>
public static class TensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.Float64 or TensorDType.Int64 => 8,
        TensorDType.Float32 or TensorDType.Int32 => 4,
        TensorDType.Float16 or TensorDType.BFloat16 or TensorDType.Int16 => 2,
        TensorDType.Int8 or TensorDType.UInt8 or TensorDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>True for the floating-point types (Float32, Float64, Float16, BFloat16).</summary>
    public static bool IsFloatingPoint(this TensorDType dtype) =>
        dtype is TensorDType.Float32 or TensorDType.Float64 or TensorDType.Float16 or TensorDType.BFloat16;

    /// <summary>The safetensors name of the type (<c>F32</c>, <c>BF16</c>, ...).</summary>
    public static string SafeTensorsName(this TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => "F32",
        TensorDType.Float64 => "F64",
        TensorDType.Float16 => "F16",
        TensorDType.BFloat16 => "BF16",
        TensorDType.Int64 => "I64",
        TensorDType.Int32 => "I32",
        TensorDType.Int16 => "I16",
        TensorDType.Int8 => "I8",
        TensorDType.UInt8 => "U8",
        TensorDType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>The TorchSharp scalar type of the same name.</summary>
    public static ScalarType ToScalarType(this TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => ScalarType.Float32,
        TensorDType.Float64 => ScalarType.Float64,
        TensorDType.Float16 => ScalarType.Float16,
        TensorDType.BFloat16 => ScalarType.BFloat16,
        TensorDType.Int64 => ScalarType.Int64,
        TensorDType.Int32 => ScalarType.Int32,
        TensorDType.Int16 => ScalarType.Int16,
        TensorDType.Int8 => ScalarType.Int8,
        TensorDType.UInt8 => ScalarType.Byte,
        TensorDType.Bool => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    internal static bool TryParseSafeTensorsName(string name, out TensorDType dtype)
    {
        foreach (TensorDType candidate in Enum.GetValues<TensorDType>())
        {
            if (candidate.SafeTensorsName() == name)
            {
                dtype = candidate;
                return true;
            }
        }

        dtype = default;
        return false;
    }

    internal static bool TryFromScalarType(ScalarType type, out TensorDType dtype)
    {
        foreach (TensorDType candidate in Enum.GetValues<TensorDType>())
        {
            if (candidate.ToScalarType() == type)
            {
                dtype = candidate;
                return true;
            }
        }

        dtype = default;
        return false;
    }
}
