using Circuits.Interpretability.Imaging;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting;

/// <summary>
/// An image ready for a report: PNG bytes with their size and a caption, embedded in the page; or a link to an image
/// file beside the page (<see cref="Linked"/>, for sites such as the neuron atlas, whose pages stay small and whose
/// images load lazily). Made from a tensor at once, so a report never holds (or disposes) the caller's tensors.
/// </summary>
public sealed class ReportImage
{
    private readonly byte[] _png;

    private ReportImage(byte[] png, int width, int height, string caption, string? url = null)
    {
        _png = png;
        Width = width;
        Height = height;
        Caption = caption;
        Url = url;
    }

    /// <summary>The image's width in pixels.</summary>
    public int Width { get; }

    /// <summary>The image's height in pixels.</summary>
    public int Height { get; }

    /// <summary>What the image shows, for people (caption and alternative text).</summary>
    public string Caption { get; }

    /// <summary>The address of a linked image (relative to the page that shows it), or null for an embedded one.</summary>
    public string? Url { get; }

    /// <summary>The PNG bytes (a copy).</summary>
    /// <exception cref="InvalidOperationException">The image is linked (<see cref="Url"/>), so the report holds no bytes.</exception>
    public byte[] Png => Url is null ? (byte[])_png.Clone() : throw new InvalidOperationException($"The image '{Caption}' is linked ({Url}); its bytes are in that file, not in the report.");

    /// <summary>The image as a <c>data:image/png;base64,...</c> URI.</summary>
    /// <exception cref="InvalidOperationException">The image is linked (<see cref="Url"/>).</exception>
    public string DataUri => Url is null ? "data:image/png;base64," + Convert.ToBase64String(_png) : throw new InvalidOperationException($"The image '{Caption}' is linked ({Url}); it has no data URI.");

    /// <summary>What an <c>img</c> element's <c>src</c> holds: the <see cref="Url"/> of a linked image, else the <see cref="DataUri"/>.</summary>
    public string Source => Url ?? DataUri;

    /// <summary>Encodes <paramref name="image"/> (C x H x W or 1 x C x H x W, values in [0, 1]) as PNG; the tensor stays the caller's.</summary>
    /// <exception cref="ImageFormatException">The tensor is not an image.</exception>
    public static ReportImage FromTensor(Tensor image, string caption)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(caption);
        long height = image.shape[^2], width = image.shape[^1];
        return new ReportImage(ImageIO.EncodePng(image), (int)width, (int)height, caption);
    }

    /// <summary>Takes PNG bytes as they are (for example a file written earlier); the size is read from the PNG header.</summary>
    /// <exception cref="ImageFormatException">The bytes are not a PNG.</exception>
    public static ReportImage FromPng(byte[] png, string caption)
    {
        ArgumentNullException.ThrowIfNull(png);
        ArgumentNullException.ThrowIfNull(caption);
        ReadOnlySpan<byte> signature = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        if (png.Length < 24 || !png.AsSpan(0, 8).SequenceEqual(signature))
        {
            throw new ImageFormatException($"The {png.Length} bytes given for '{caption}' are not a PNG image; expected the PNG signature and header.");
        }

        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4));
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4));
        return new ReportImage((byte[])png.Clone(), width, height, caption);
    }

    /// <summary>
    /// An image kept in a file beside the page, shown through <paramref name="url"/> (relative to the page, for example
    /// <c>../../parts/curves/0003/neuron-1a2b.png</c>); pages load it lazily. The size is the image's own, in pixels.
    /// </summary>
    /// <exception cref="ArgumentException">The address is empty, or the size is not positive.</exception>
    public static ReportImage Linked(string url, int width, int height, string caption)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        ArgumentNullException.ThrowIfNull(caption);
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentException($"The linked image '{url}' has size {width} x {height}; expected positive numbers of pixels.", nameof(width));
        }

        return new ReportImage(Array.Empty<byte>(), width, height, caption, url);
    }

    /// <summary>The same image with another caption.</summary>
    public ReportImage WithCaption(string caption) => new(_png, Width, Height, caption ?? throw new ArgumentNullException(nameof(caption)), Url);
}
