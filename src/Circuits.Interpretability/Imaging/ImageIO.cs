using Circuits.Interpretability.Core;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Imaging;

/// <summary>
/// Reads and writes images as float tensors: RGB (or RGBA) in [0, 1], channels first (C x H x W). PNG
/// output is lossless for 8-bit values; reading accepts PNG, JPEG, WebP, GIF and BMP (decoded by SkiaSharp).
/// </summary>
public static class ImageIO
{
    /// <summary>
    /// Encodes an image as PNG. Accepts C x H x W or 1 x C x H x W with C = 1 (grey), 3 (RGB) or 4 (RGBA),
    /// values in [0, 1] (clamped, then rounded to 8 bits).
    /// </summary>
    /// <exception cref="ImageFormatException">The shape is not an image's, or a value is NaN.</exception>
    public static byte[] EncodePng(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (channels, height, width, pixels) = ToBytes(image);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var rgba = new byte[width * height * 4];
        for (int i = 0; i < width * height; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                rgba[(4 * i) + c] = pixels[((channels == 1 ? 0 : c) * width * height) + i];
            }

            rgba[(4 * i) + 3] = channels == 4 ? pixels[(3 * width * height) + i] : (byte)255;
        }

        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="image"/> as a PNG file. The bytes go to a temporary file beside
    /// <paramref name="path"/> that is renamed over it, so a failure never leaves a partial image.
    /// </summary>
    /// <exception cref="ImageFormatException">The tensor is not an image (see <see cref="EncodePng"/>).</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static void SavePng(Tensor image, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = EncodePng(image);
        string full = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null && !Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Cannot write '{path}': the folder '{folder}' does not exist.");
        }

        AtomicFile.WriteAllBytes(full, png);
    }

    /// <summary>Decodes image bytes to a 3 x H x W (or 4 x H x W with <paramref name="keepAlpha"/>) float tensor in [0, 1].</summary>
    /// <exception cref="ImageFormatException">The bytes are not an image SkiaSharp can decode.</exception>
    public static Tensor Decode(byte[] data, bool keepAlpha = false, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        TorchBackend.EnsureAvailable();
        using var stream = new SKMemoryStream(data);
        using var codec = SKCodec.Create(stream);
        if (codec is null)
        {
            throw new ImageFormatException($"{source ?? "The data"} ({data.Length} bytes) is not an image that can be decoded; expected PNG, JPEG, WebP, GIF or BMP.");
        }

        // Decode straight to unpremultiplied RGBA: the default (premultiplied) would scale colours by alpha.
        int width = codec.Info.Width;
        int height = codec.Info.Height;
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var rgba = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, rgba.GetPixels());
        if (result != SKCodecResult.Success)
        {
            throw new ImageFormatException($"{source ?? "The data"} could not be decoded ({result}); the file may be truncated or corrupt.");
        }

        var bytes = new byte[width * height * 4];
        System.Runtime.InteropServices.Marshal.Copy(rgba.GetPixels(), bytes, 0, bytes.Length);
        int channels = keepAlpha ? 4 : 3;
        var planar = new float[channels * width * height];
        for (int i = 0; i < width * height; i++)
        {
            for (int c = 0; c < channels; c++)
            {
                planar[(c * width * height) + i] = bytes[(4 * i) + c] / 255f;
            }
        }

        return tensor(planar).reshape(channels, height, width);
    }

    /// <summary>Reads an image file to a 3 x H x W (or 4 x H x W) float tensor in [0, 1].</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ImageFormatException">The file is not a decodable image.</exception>
    public static Tensor Load(string path, bool keepAlpha = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        TorchBackend.EnsureAvailable();
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Image '{path}' does not exist.", path);
        }

        return Decode(File.ReadAllBytes(path), keepAlpha, $"'{path}'");
    }

    private static (int Channels, int Height, int Width, byte[] Pixels) ToBytes(Tensor image)
    {
        using var scope = NewDisposeScope();
        Tensor t = image.dim() == 4 && image.shape[0] == 1 ? image[0] : image;
        if (t.dim() != 3 || t.shape[0] is not (1 or 3 or 4) || t.shape[1] <= 0 || t.shape[2] <= 0)
        {
            throw new ImageFormatException(
                $"A tensor of shape [{string.Join(", ", image.shape)}] is not an image; expected C x H x W or 1 x C x H x W with C = 1, 3 or 4.");
        }

        Tensor values = t.detach().to(ScalarType.Float32).cpu();
        if (values.isnan().any().item<bool>())
        {
            throw new ImageFormatException($"The image of shape [{string.Join(", ", image.shape)}] contains NaN values.");
        }

        byte[] bytes = values.clamp(0, 1).mul(255).round().to(ScalarType.Byte).contiguous().data<byte>().ToArray();
        return ((int)t.shape[0], (int)t.shape[1], (int)t.shape[2], bytes);
    }
}
