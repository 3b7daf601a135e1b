using Circuits.Interpretability.Imaging;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting;

/// <summary>
/// An image ready for a report: PNG bytes with their size and a caption. Made from a tensor at once, so a report
/// never holds (or disposes) the caller's tensors.
/// </summary>
public sealed class ReportImage
{
    private readonly byte[] _png;

    private ReportImage(byte[] png, int width, int height, string caption)
    {
        _png = png;
        Width = width;
        Height = height;
        Caption = caption;
    }

    /// <summary>The image's width in pixels.</summary>
    public int Width { get; }

    /// <summary>The image's height in pixels.</summary>
    public int Height { get; }

    /// <summary>What the image shows, for people (caption and alternative text).</summary>
    public string Caption { get; }

    /// <summary>The PNG bytes (a copy).</summary>
    public byte[] Png => (byte[])_png.Clone();

    /// <summary>The image as a <c>data:image/png;base64,...</c> URI.</summary>
    public string DataUri => "data:image/png;base64," + Convert.ToBase64String(_png);

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

    /// <summary>The same image with another caption.</summary>
    public ReportImage WithCaption(string caption) => new(_png, Width, Height, caption ?? throw new ArgumentNullException(nameof(caption)));
}
