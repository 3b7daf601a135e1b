using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Chooses the preprocessing between an RGB image in [0, 1] and a model: an option's <c>Preprocess</c> when set
/// (<see cref="None"/> says explicitly that the model takes the image as is), otherwise the model's own
/// <see cref="IInputConvention"/>, otherwise none.
/// </summary>
public static class Preprocessing
{
    /// <summary>No preprocessing: the model sees the image in [0, 1] as is. Set an option's <c>Preprocess</c> to this to override a model's convention.</summary>
    public static Func<Tensor, Tensor> None { get; } = Identity;

    /// <summary>
    /// The function applied to images before <paramref name="model"/>: <paramref name="chosen"/> when given,
    /// otherwise the model's <see cref="IInputConvention.Preprocess"/>, otherwise <see cref="None"/>.
    /// </summary>
    public static Func<Tensor, Tensor> Resolve(nn.Module model, Func<Tensor, Tensor>? chosen)
    {
        ArgumentNullException.ThrowIfNull(model);
        return chosen ?? (model is IInputConvention convention ? convention.Preprocess : None);
    }

    /// <summary>
    /// A short description of the choice for content keys and state files: <c>model</c> (the option was not set),
    /// <c>none</c> (<see cref="None"/>), or <c>custom</c>.
    /// </summary>
    public static string Describe(Func<Tensor, Tensor>? chosen) =>
        chosen is null ? "model" : ReferenceEquals(chosen, None) ? "none" : "custom";

    private static Tensor Identity(Tensor image) => image;
}
