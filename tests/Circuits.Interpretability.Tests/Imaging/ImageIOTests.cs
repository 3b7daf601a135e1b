using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Imaging;

public sealed class ImageIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-img-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A 3 x 5 x 7 image whose every value is a multiple of 1/255, so PNG stores it exactly.</summary>
    private static Tensor Quantized(int seed)
    {
        var random = new Random(seed);
        var values = Enumerable.Range(0, 3 * 5 * 7).Select(_ => random.Next(256) / 255f).ToArray();
        return tensor(values).reshape(3, 5, 7);
    }

    [Fact]
    public void Png_round_trip_is_exact_for_8_bit_values()
    {
        using Tensor image = Quantized(1);
        string path = Path.Combine(_dir, "a.png");

        ImageIO.SavePng(image, path);
        using Tensor back = ImageIO.Load(path);

        back.shape.Should().Equal(3, 5, 7);
        HandBuiltNet.Values(back).Should().Equal(HandBuiltNet.Values(image));
        Directory.GetFiles(_dir).Should().Equal(new[] { path }, "no temporary file remains");
    }

    [Fact]
    public void Pixels_land_where_expected_and_values_are_clamped_and_rounded()
    {
        // Red at (row 0, col 1), green at (1, 0); out-of-range values clamp; 0.5 rounds to 128.
        using Tensor image = zeros(1, 3, 2, 2);
        image[0, 0, 0, 1] = tensor(1.7f);
        image[0, 1, 1, 0] = tensor(1f);
        image[0, 2, 1, 1] = tensor(0.5f);
        image[0, 2, 0, 0] = tensor(-3f);

        using Tensor back = ImageIO.Decode(ImageIO.EncodePng(image));

        HandBuiltNet.Values(back[0]).Should().Equal(0, 1, 0, 0);
        HandBuiltNet.Values(back[1]).Should().Equal(0, 0, 1, 0);
        HandBuiltNet.Values(back[2]).Should().Equal(0, 0, 0, 128 / 255f);
    }

    [Fact]
    public void Grey_and_alpha_images_are_written_and_alpha_can_be_read_back()
    {
        using Tensor grey = full(1, 2, 3, 0.2f);
        using Tensor fromGrey = ImageIO.Decode(ImageIO.EncodePng(grey));
        fromGrey.shape.Should().Equal(3, 2, 3);
        HandBuiltNet.Values(fromGrey).Should().OnlyContain(v => v == 51 / 255f);

        using Tensor rgba = cat(new[] { Quantized(2)[TensorIndex.Slice(0, 3)], full(1, 5, 7, 128 / 255f) }, 0);
        using Tensor back = ImageIO.Decode(ImageIO.EncodePng(rgba), keepAlpha: true);
        back.shape.Should().Equal(4, 5, 7);
        HandBuiltNet.Values(back[3]).Should().OnlyContain(v => v == 128 / 255f);
        HandBuiltNet.Values(back[TensorIndex.Slice(0, 3)]).Should().Equal(HandBuiltNet.Values(rgba[TensorIndex.Slice(0, 3)]));
    }

    [Fact]
    public void Bad_tensors_and_bad_files_are_clear_errors_and_write_nothing()
    {
        string path = Path.Combine(_dir, "bad.png");
        FluentActions.Invoking(() => ImageIO.SavePng(zeros(2, 4, 4), path)).Should().Throw<ImageFormatException>()
            .WithMessage("A tensor of shape [2, 4, 4] is not an image; expected C x H x W or 1 x C x H x W with C = 1, 3 or 4.");
        FluentActions.Invoking(() => ImageIO.SavePng(full(3, 2, 2, float.NaN), path)).Should().Throw<ImageFormatException>().WithMessage("*NaN*");
        FluentActions.Invoking(() => ImageIO.SavePng(zeros(3, 2, 2), Path.Combine(_dir, "missing", "x.png")))
            .Should().Throw<DirectoryNotFoundException>().WithMessage("*missing*does not exist*");
        Directory.GetFiles(_dir).Should().BeEmpty();

        File.WriteAllText(path, "not an image");
        FluentActions.Invoking(() => ImageIO.Load(path)).Should().Throw<ImageFormatException>().WithMessage($"'{path}' (12 bytes) is not an image*");
        FluentActions.Invoking(() => ImageIO.Load(Path.Combine(_dir, "nope.png"))).Should().Throw<FileNotFoundException>();
    }

    [Fact]
    public void Jpeg_files_decode_close_to_their_source()
    {
        // A smooth gradient survives JPEG compression within a few levels.
        using Tensor image = stack(new[] { linspace(0, 1, 16).expand(16, 16), linspace(0, 1, 16).reshape(16, 1).expand(16, 16), full(16, 16, 0.5f) });
        byte[] png = ImageIO.EncodePng(image);
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        using var jpeg = SkiaSharp.SKImage.FromBitmap(bitmap).Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 95);
        string path = Path.Combine(_dir, "g.jpg");
        File.WriteAllBytes(path, jpeg.ToArray());

        using Tensor back = ImageIO.Load(path);

        back.shape.Should().Equal(3, 16, 16);
        (back - image).abs().max().item<float>().Should().BeLessThan(0.06f);
    }

    [Fact]
    public void Grid_places_image_i_at_row_i_div_columns_and_column_i_mod_columns()
    {
        using Tensor batch = arange(5).to(ScalarType.Float32).reshape(5, 1, 1, 1).expand(5, 3, 2, 2).contiguous() / 10;
        using Tensor grid = ImageGrid.Make(batch, columns: 3, padding: 1, padValue: 1f);

        grid.shape.Should().Equal(3, 1 + (2 * 3), 1 + (3 * 3));
        for (int i = 0; i < 5; i++)
        {
            int top = 1 + ((i / 3) * 3);
            int left = 1 + ((i % 3) * 3);
            grid[0, top, left].item<float>().Should().BeApproximately(i / 10f, 1e-6f);
            grid[2, top + 1, left + 1].item<float>().Should().BeApproximately(i / 10f, 1e-6f);
        }

        grid[0, 0, 0].item<float>().Should().Be(1f);
        grid[1, 4, 7].item<float>().Should().Be(1f, "the sixth cell is empty padding");
        ImageGrid.Make(batch).shape.Should().Equal(new long[] { 3, 2 + (2 * 4), 2 + (3 * 4) }, "five images make a 3-column, 2-row grid");
        FluentActions.Invoking(() => ImageGrid.Make(zeros(3, 4, 4))).Should().Throw<ImageFormatException>();
    }
}
