namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>Which feature visualization a unit's thumbnail on its layer page is cut from.</summary>
public enum AtlasThumbnail
{
    /// <summary>
    /// The centre-neuron image (the unit at one position): a localized feature that stays legible at thumbnail size
    /// (a line, a curve, an eye), as the Early Vision article shows neurons. Layers without positions use the channel image.
    /// </summary>
    Neuron,

    /// <summary>The channel image (the unit's mean over its whole map): a texture, as OpenAI Microscope showed units.</summary>
    Channel,
}
