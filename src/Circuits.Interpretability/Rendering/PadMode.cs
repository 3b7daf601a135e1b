namespace Circuits.Interpretability.Rendering;

/// <summary>How <see cref="Transforms.Pad(int, PadMode, double)"/> fills the border. For a row a b c d padded by 2 on each side:</summary>
public enum PadMode
{
    /// <summary>A constant value: v v | a b c d | v v.</summary>
    Constant,

    /// <summary>The mirror image without repeating the edge (PyTorch and NumPy <c>reflect</c>, TensorFlow <c>REFLECT</c>): c b | a b c d | c b.</summary>
    Reflect,

    /// <summary>The mirror image repeating the edge (NumPy <c>symmetric</c>, TensorFlow <c>SYMMETRIC</c>): b a | a b c d | d c.</summary>
    Symmetric,

    /// <summary>The edge value repeated (PyTorch <c>replicate</c>, NumPy <c>edge</c>): a a | a b c d | d d.</summary>
    Replicate,
}
