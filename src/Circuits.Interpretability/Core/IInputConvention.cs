using static TorchSharp.torch;

namespace Circuits.Interpretability.Core;

/// <summary>
/// A model that declares its input convention: how an RGB image in [0, 1] (N x 3 x H x W) becomes the tensor its
/// forward expects. Rendering, tuning curves, dataset examples and attribution apply it on their own, unless the
/// caller overrides it (see <see cref="Preprocessing"/>), as Lucent does for the models of its zoo.
/// </summary>
/// <example>
/// <code>
/// public sealed class MyNet : nn.Module&lt;Tensor, Tensor&gt;, IInputConvention
/// {
///     public Tensor Preprocess(Tensor image) => (image - 0.5) / 0.25;
///     ...
/// }
/// </code>
/// </example>
public interface IInputConvention
{
    /// <summary>Maps an RGB image in [0, 1], N x 3 x H x W, to the model's input; differentiable.</summary>
    Tensor Preprocess(Tensor image);
}
