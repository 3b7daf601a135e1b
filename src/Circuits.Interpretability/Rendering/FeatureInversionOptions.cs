namespace Circuits.Interpretability.Rendering;

/// <summary>What <see cref="FeatureInversion"/> asks of the render.</summary>
public enum InversionMode
{
    /// <summary>
    /// Lucid's caricature: maximize <see cref="Objectives.DotCompare"/>, the render's activations dotted with the
    /// real image's (times their floored cosine to the power <see cref="FeatureInversionOptions.CossimPow"/>). The
    /// render exaggerates what the layer sees.
    /// </summary>
    Caricature,

    /// <summary>
    /// Feature inversion proper: minimize <see cref="Objectives.ActivationDifference"/>, the mean squared difference
    /// of the two activations. The render is an image the layer cannot tell from the real one; on a layer that
    /// loses nothing (the identity, an invertible linear map) it is the real image itself.
    /// </summary>
    Inversion,
}

/// <summary>Settings of <see cref="FeatureInversion.Render"/>.</summary>
public sealed record FeatureInversionOptions
{
    /// <summary>Caricature (default, as Lucid's recipe) or inversion.</summary>
    public InversionMode Mode { get; init; } = InversionMode.Caricature;

    /// <summary>The caricature's cosine-similarity power (Lucid's <c>cossim_pow</c>, 0 by default as in its recipe); unused by inversion.</summary>
    public double CossimPow { get; init; }

    /// <summary>
    /// An extra objective added to the comparison, for example <c>-0.05 * Objectives.TotalVariation(batch: 0)</c>
    /// (give penalties <c>batch: 0</c>, the render; item 1 is the real image). Default none.
    /// </summary>
    public Objective? Regularizer { get; init; }

    /// <summary>
    /// The render settings. <see cref="RenderOptions.BatchSize"/> is ignored (the batch is the render and the real
    /// image); <see cref="RenderOptions.ImageSize"/> is the side of the square the real image is fitted to;
    /// <see cref="RenderOptions.Parameterization"/> is called for one image; null
    /// <see cref="RenderOptions.Transforms"/> means <see cref="FeatureInversion.Transforms"/>, the recipe's own.
    /// </summary>
    public RenderOptions Render { get; init; } = new();
}
