using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.IO;

/// <summary>
/// A weight file that cannot be read: truncated, corrupted, of an unknown format, declaring sizes the file
/// cannot hold, or using a construct the reader does not accept. The message names the file, the bad value
/// and what was expected.
/// </summary>
public class WeightFormatException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public WeightFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with the exception that caused it.</summary>
    public WeightFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// A pickle that asks for something a state dict never needs: an opcode outside the accepted set or a global
/// (a Python callable or class) outside the allow-list, such as <c>os.system</c>. Nothing in the pickle is
/// ever executed; this exception is raised instead.
/// </summary>
public sealed class UnsafePickleException : WeightFormatException
{
    /// <summary>Creates the exception.</summary>
    public UnsafePickleException(string message) : base(message)
    {
    }
}

/// <summary>
/// A state dict that does not fit a module: keys the module lacks, parameters the state dict lacks, or
/// tensors of the wrong shape. Raised before anything is copied, so the module is left unchanged.
/// </summary>
public sealed class StateDictMismatchException : CircuitsException
{
    /// <summary>Creates the exception from the three lists of problems.</summary>
    public StateDictMismatchException(IReadOnlyList<string> missingKeys, IReadOnlyList<string> unexpectedKeys, IReadOnlyList<string> shapeMismatches)
        : base(Describe(missingKeys, unexpectedKeys, shapeMismatches))
    {
        MissingKeys = missingKeys;
        UnexpectedKeys = unexpectedKeys;
        ShapeMismatches = shapeMismatches;
    }

    /// <summary>Module parameters and buffers for which the state dict has no tensor.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>State-dict keys (after key mapping) that name nothing in the module.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary>One line per tensor whose shape differs: <c>name: file [a, b] vs module [c, d]</c>.</summary>
    public IReadOnlyList<string> ShapeMismatches { get; }

    private static string Describe(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapes)
    {
        var parts = new List<string>();
        if (missing.Count > 0)
        {
            parts.Add($"missing keys ({missing.Count}): {List(missing)}");
        }

        if (unexpected.Count > 0)
        {
            parts.Add($"unexpected keys ({unexpected.Count}): {List(unexpected)}");
        }

        if (shapes.Count > 0)
        {
            parts.Add($"shape mismatches ({shapes.Count}): {List(shapes)}");
        }

        return "The state dict does not fit the module; nothing was loaded. " + string.Join("; ", parts) + ".";
    }

    private static string List(IReadOnlyList<string> items)
    {
        const int Shown = 20;
        string text = string.Join(", ", items.Take(Shown).Select(i => $"'{i}'"));
        return items.Count > Shown ? $"{text}, ... and {items.Count - Shown} more" : text;
    }
}

/// <summary>
/// Weights that hold NaN or infinite values, refused when loading into a module (a model with such weights
/// gives NaN activations, gradients and images without saying why). Raised before anything is copied, so the
/// module is left unchanged; <see cref="WeightLoadOptions.AllowNonFinite"/> (or <c>allowNonFinite: true</c>)
/// loads them anyway.
/// </summary>
public sealed class NonFiniteWeightsException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="tensorNames">The file keys of the tensors that hold NaN or infinite values.</param>
    /// <param name="details">One line per tensor for the message, such as <c>'conv.weight' (3 NaN, 1 infinite of 100)</c>.</param>
    public NonFiniteWeightsException(IReadOnlyList<string> tensorNames, IReadOnlyList<string> details)
        : base($"{details.Count} weight tensor{(details.Count == 1 ? "" : "s")} hold NaN or infinite values; nothing was loaded: " +
               string.Join(", ", details.Take(20)) + (details.Count > 20 ? $", ... and {details.Count - 20} more" : "") +
               ". The file is corrupted or was saved from a diverged model; pass allowNonFinite: true (WeightLoadOptions.AllowNonFinite) to load it anyway.")
    {
        TensorNames = tensorNames;
    }

    /// <summary>The file keys of the tensors that hold NaN or infinite values.</summary>
    public IReadOnlyList<string> TensorNames { get; }
}
