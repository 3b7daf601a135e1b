using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Core;

public class NeuronAddressTests
{
    [Theory]
    [InlineData("mixed4a", "mixed4a", null, null, null)]
    [InlineData("mixed4a:10", "mixed4a", 10, null, null)]
    [InlineData("mixed4a:10@3,4", "mixed4a", 10, 3, 4)]
    [InlineData(" features.conv2:0@0,0 ", "features.conv2", 0, 0, 0)]
    [InlineData("mixed4a.conv_3x3:479", "mixed4a.conv_3x3", 479, null, null)]
    public void Parses_the_three_forms(string text, string layer, int? channel, int? y, int? x)
    {
        NeuronAddress address = NeuronAddress.Parse(text);
        address.Layer.Should().Be(layer);
        address.Channel.Should().Be(channel);
        address.Y.Should().Be(y);
        address.X.Should().Be(x);
        NeuronAddress.Parse(address.ToString()).Should().Be(address, "the canonical form reads back");
    }

    [Theory]
    [InlineData("", "*must not be empty*")]
    [InlineData(":3", "*must not be empty*")]
    [InlineData("mixed4a:", "*channel ''*not a whole number*")]
    [InlineData("mixed4a:x", "*channel 'x'*")]
    [InlineData("mixed4a:-1", "*channel '-1'*")]
    [InlineData("mixed4a@1,2", "*position but no channel*")]
    [InlineData("mixed4a:3@1", "*not 'y,x'*")]
    [InlineData("mixed4a:3@1,2,3", "*not 'y,x'*")]
    [InlineData("mixed4a:3@a,2", "*row 'a'*")]
    [InlineData("mixed4a:3@1,", "*column ''*")]
    public void Rejects_malformed_text_with_a_message_naming_it(string text, string message)
    {
        var act = () => NeuronAddress.Parse(text);
        act.Should().Throw<InvalidAddressException>().WithMessage(message);
        NeuronAddress.TryParse(text, out _).Should().BeFalse();
    }

    [Fact]
    public void Constructor_checks_its_parts()
    {
        FluentActions.Invoking(() => new NeuronAddress("a", null, 1, 1)).Should().Throw<InvalidAddressException>().WithMessage("*needs a channel*");
        FluentActions.Invoking(() => new NeuronAddress("a", 1, 1, null)).Should().Throw<InvalidAddressException>().WithMessage("*needs both y and x*");
        FluentActions.Invoking(() => new NeuronAddress("a", -2)).Should().Throw<InvalidAddressException>().WithMessage("*-2*negative*");
        new NeuronAddress("a", 1, 2, 3).ToString().Should().Be("a:1@2,3");
    }
}
