using System.Text;
using Circuits.Interpretability.IO;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>safetensors layouts and strings the reference implementation refuses (issue 13, Loaders: safetensors).</summary>
public class SafeTensorsHardeningTests
{
    private static string Tensor(string name, long begin, long end, long elements) =>
        $"\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{elements}],\"data_offsets\":[{begin},{end}]}}";

    [Theory]
    [InlineData("{" + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}" + "}", 12,
        "*tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' ([0, 8])*")]
    [InlineData("{" + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}" + "}", 12,
        "*data bytes 4 to 8 belong to no tensor (a hole before 'b')*")]
    [InlineData("{" + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}" + "}", 8,
        "*data bytes 0 to 4 belong to no tensor (a hole before 'a')*")]
    [InlineData("{" + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}" + "}", 9,
        "*5 bytes follow the last tensor's data (the tensors end at data byte 4 of 9)*trailing data*")]
    [InlineData("{}", 1, "*1 bytes follow the last tensor's data*")]
    public void Overlaps_holes_and_trailing_bytes_are_refused_as_the_reference_implementation_refuses_them(string header, int dataBytes, string message)
    {
        var act = () => SafeTensors.Load(new MemoryStream(SafeTensorsFile(header, new byte[dataBytes])), "layout.safetensors");
        act.Should().Throw<WeightFormatException>().WithMessage(message);
    }

    [Fact]
    public void Five_hundred_tensors_on_one_span_are_refused_before_any_is_read()
    {
        // Each tensor names the same 4 MiB span: reading it once per tensor allocated 2 GB.
        const long Span = 4 << 20;
        string header = "{" + string.Join(",", Enumerable.Range(0, 500).Select(i => Tensor($"t{i}", 0, Span, Span / 4))) + "}";
        byte[] file = SafeTensorsFile(header, new byte[Span]);

        long allocated = Allocated(() =>
        {
            var act = () => SafeTensors.Load(new MemoryStream(file), "shared.safetensors");
            act.Should().Throw<WeightFormatException>().WithMessage("*overlaps tensor 't0'*");
        });
        allocated.Should().BeLessThan(2 << 20);
    }

    [Fact]
    public void Empty_tensors_may_share_an_offset_as_the_reference_allows()
    {
        string header = "{" + Tensor("a", 0, 0, 0) + "," + Tensor("b", 0, 4, 1) + "," + Tensor("c", 4, 4, 0) + "}";

        StateDict state = SafeTensors.Load(new MemoryStream(SafeTensorsFile(header, BitConverter.GetBytes(2.5f))));

        state.Keys.Should().Equal("a", "b", "c");
        state["b"].ToFloatArray().Should().Equal(2.5f);
    }

    [Theory]
    [InlineData("{\"w\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F\\udc0032\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"__metadata__\":{\"k\\ud800\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"__metadata__\":{\"k\":\"v\\udfff\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    public void A_lone_surrogate_in_any_header_string_is_a_format_error(string header)
    {
        var act = () => SafeTensors.Load(new MemoryStream(SafeTensorsFile(header, new byte[4])), "surrogate.safetensors");
        act.Should().Throw<WeightFormatException>().WithMessage("surrogate.safetensors: a string in the header is not valid Unicode*");
    }

    [Fact]
    public void Invalid_UTF8_in_the_header_is_a_format_error()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"w?\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        header[3] = 0xFF;

        var act = () => SafeTensors.Load(new MemoryStream(SafeTensorsFile(header, new byte[4])), "bytes.safetensors");

        act.Should().Throw<WeightFormatException>().WithMessage("bytes.safetensors: the header is not valid UTF-8*");
    }

    [Fact]
    public void The_total_cap_applies_to_safetensors()
    {
        byte[] file = SafeTensorsFile("{" + Tensor("w", 0, 4096, 1024) + "}", new byte[4096]);

        var act = () => SafeTensors.Load(new MemoryStream(file), "big.safetensors", new WeightLoadOptions { MaxTotalBytes = 1024 });

        act.Should().Throw<WeightFormatException>().WithMessage("*the tensors take 4096 bytes, more than WeightLoadOptions.MaxTotalBytes (1024)*");
    }
}
