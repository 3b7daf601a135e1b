namespace Circuits.Interpretability.Hooks;

/// <summary>One named submodule of a model, as <see cref="LayerTable.Describe(TorchSharp.torch.nn.Module{TorchSharp.torch.Tensor, TorchSharp.torch.Tensor}, long[])"/> found it.</summary>
/// <param name="Path">The module path, as TorchSharp's <c>named_modules()</c> prints it.</param>
/// <param name="TypeName">The module's .NET type name.</param>
/// <param name="OutputShape">The output shape in the dry forward pass; null when the module did not run or does not return one tensor.</param>
/// <param name="ParameterCount">The number of parameter elements of the module and its submodules.</param>
/// <param name="Ran">Whether the module ran (through <c>call()</c>) during the dry forward pass.</param>
/// <param name="Capturable">Whether the hook API can capture and edit its output (it takes and returns one tensor).</param>
public sealed record LayerInfo(string Path, string TypeName, long[]? OutputShape, long ParameterCount, bool Ran, bool Capturable)
{
    /// <summary>The nesting depth: the number of dots in the path.</summary>
    public int Depth => Path.Count(c => c == '.');

    /// <summary>The output shape as text, for example <c>1 x 64 x 56 x 56</c>, or a dash.</summary>
    public string ShapeText => OutputShape is null ? "-" : string.Join(" x ", OutputShape);
}
