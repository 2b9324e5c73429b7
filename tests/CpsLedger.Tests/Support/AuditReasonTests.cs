using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Support;

/// <summary>
/// Every reason a person writes for the audit trail (finance, support, operations) is held to one rule with one wording: required,
/// at least five characters once trimmed, at most 300 where a document prints it (a credit note) and 500 elsewhere. Walked over every
/// endpoint taking one, so that an endpoint added with a weaker rule shows here. Support's reason on a member's request
/// (supportReason) is checked with the ticket: SupportOnBehalfTests.
/// </summary>
public sealed class AuditReasonTests(LedgerApp app) : LedgerTest(app)
{
    private sealed record Endpoint(string Name, string Role, int MaxLength, Func<HttpClient, Guid, string, Task<HttpResponseMessage>> Send);

    // Each body is otherwise right in shape; where a right reason would write something, another field is wrong (points 0, an invalid
    // e-mail, no rates or tiers) or the target is missing, so that nothing is written whatever the reason.
    private static readonly Endpoint[] Endpoints =
    [
        new("adjust points", LedgerRoles.Support, 500, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/points-adjustments", new { points = 0, reason, ticketReference = "CPS-SUP-1" })),
        new("resend the invitation", LedgerRoles.Support, 500, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/invitation/resend", new { reason, ticketReference = "CPS-SUP-1" })),
        new("cancel the membership", LedgerRoles.Support, 500, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/membership/cancellation", new { reason, ticketReference = "CPS-SUP-4711" })),
        new("link an old e-mail", LedgerRoles.Support, 500, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/old-cps-emails", new { email = "not-an-email", reason, ticketReference = "CPS-SUP-1" })),
        new("unlink an old e-mail", LedgerRoles.Support, 500, (c, a, reason) =>
            c.DeleteAsync($"/api/accounts/{a}/old-cps-emails/kadri%40old.example?reason={Uri.EscapeDataString(reason)}&ticketReference=CPS-SUP-1")),
        new("cancel an invoice", LedgerRoles.Finance, SupportReason.MaxPrintedReasonLength, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/invoices/INV-1999-000001/cancellation", new { reason })),
        new("replace an invoice", LedgerRoles.Finance, 500, (c, a, reason) =>
            c.PostJson($"/api/accounts/{a}/invoices/INV-1999-000001/replacement", new { reason })),
        new("publish VAT rates", LedgerRoles.Finance, 500, (c, _, reason) =>
            c.PutJson("/api/vat-rates", new { rates = Array.Empty<object>(), reason })),
        new("publish the tier table", LedgerRoles.Finance, 500, (c, _, reason) =>
            c.PutJson("/api/tiers", new { invitationThreshold = 500, enterpriseAbovePoints = 2500, tiers = Array.Empty<object>(), reason })),
    ];

    [Fact]
    public async Task Every_reason_for_the_audit_trail_is_required_at_least_five_characters_trimmed_and_at_most_its_maximum()
    {
        var account = await App.OpenAccount();
        var failures = new List<string>();
        foreach (var endpoint in Endpoints)
        {
            var client = App.ClientAs(endpoint.Role);
            var refused = new[] { "", "     ", "abcd", "  abcd  ", " a b ", new string('x', endpoint.MaxLength + 1) };
            foreach (var reason in refused)
            {
                var response = await endpoint.Send(client, account, reason);
                var errors = response.StatusCode == HttpStatusCode.BadRequest ? (await response.ReadProblem(HttpStatusCode.BadRequest)).Errors : null;
                if (errors?.TryGetValue("reason", out var messages) != true || !messages!.SequenceEqual([SupportReason.ReasonMessage(endpoint.MaxLength)]))
                    failures.Add($"{endpoint.Name}, reason \"{Shown(reason)}\": {(int)response.StatusCode} " +
                                 $"{(errors is null ? "" : string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")))}");
            }

            foreach (var reason in new[] { "Typo.", " Typo. ", new string('x', endpoint.MaxLength) })
            {
                var response = await endpoint.Send(client, account, reason);
                if (response.StatusCode == HttpStatusCode.BadRequest
                    && (await response.ReadProblem(HttpStatusCode.BadRequest)).Errors.ContainsKey("reason"))
                    failures.Add($"{endpoint.Name}, reason \"{Shown(reason)}\" refused");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string Shown(string reason) => reason.Length > 12 ? $"{reason.Length} characters" : reason;
}
