using CpsLedger.Api.Platform;
using CpsLedger.Tests.Contract.Generated;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Contract;

/// <summary>
/// The service refuses a time without its offset (it never guesses the zone). A client generated from the document must send
/// each time with its offset, or every time filter a portal or an auditor's tool offers is a 400.
/// </summary>
public sealed class TimeParameterTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task the_generated_client_sends_a_time_with_its_offset_so_time_filters_read_the_moment_meant()
    {
        var account = await App.OpenAccountThroughTheClient("Ajatelg OÜ", "times@example.ee");
        var auditor = new LedgerClient(App.ClientAs(LedgerRoles.Auditor));
        var opened = (await auditor.GetAccountHistoryAsync(account)).Items.First();
        // The same moment in Tallinn's winter time: read without its offset it would be two hours later.
        var inTallinn = opened.At.ToOffset(TimeSpan.FromHours(2));

        var through = await auditor.GetAccountHistoryAsync(account, from: inTallinn, through: inTallinn);
        var before = await auditor.GetAccountHistoryAsync(account, to: inTallinn);
        var asOf = await auditor.GetAccountAsOfAsync(account, timestamp: inTallinn);

        Assert.Equal([opened.EventId], through.Items.Select(i => i.EventId));
        Assert.Empty(before.Items);
        Assert.Equal(opened.At, asOf.AsOfTimestamp);
    }
}
