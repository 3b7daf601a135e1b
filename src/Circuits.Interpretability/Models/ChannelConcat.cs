using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// Concatenates tensors along the channel dimension (dimension 1), as a module so that hooks can see the
/// branches going in and the joined tensor coming out.
/// </summary>
public sealed class ChannelConcat : nn.Module<Tensor[], Tensor>
{
    /// <summary>Creates the module.</summary>
    public ChannelConcat() : base(nameof(ChannelConcat))
    {
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return cat(input, 1);
    }
}
