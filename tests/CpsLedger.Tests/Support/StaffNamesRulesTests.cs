using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using static CpsLedger.Api.Support.StaffNames;

namespace CpsLedger.Tests.Support;

/// <summary>Who is staff, and what the member and the portal read instead of a staff name, as pure functions.</summary>
public sealed class StaffNamesRulesTests
{
    private static readonly HashSet<string> Supports = ["points_adjusted", "membership_cancelled"];

    private static Marked Event(string user, string correlation, string type, bool ticket = false) => new(user, correlation, type, ticket);

    [Fact]
    public void A_ticket_or_an_event_only_support_writes_is_supports_anything_else_marked_is_finances()
    {
        Assert.Equal(StaffNames.Support, RoleOf(Event("anna", "c1", "cps_joined", ticket: true), Supports));
        Assert.Equal(StaffNames.Support, RoleOf(Event("anna", "c1", "membership_cancelled"), Supports));
        Assert.Equal(Finance, RoleOf(Event("fred", "c2", "payment_received"), Supports));
        Assert.Equal(Finance, RoleOf(Event("fred", "c3", "credit_note_issued"), Supports));
    }

    [Fact]
    public void Supports_mark_outweighs_a_reason_in_the_same_request_and_names_its_other_events_and_what_they_caused()
    {
        // Support's cancellation: the membership cancelled (support's event) and a credit note with its reason.
        var staff = Of([new Act("anna", "c1", StaffNames.Support), new Act("anna", "c1", Finance), new Act("fred", "c2", Finance)]);

        Assert.Equal(StaffNames.Support, staff.Shown("anna", "c1"));
        Assert.Equal(Finance, staff.Shown("fred", "c2"));
        Assert.Equal(new CausedBy(StaffNames.Support, "c1", null), staff.Shown(new CausedBy("anna", "c1", null)));
        // Elsewhere on the account (an event from before support's requests carried a ticket): still staff.
        Assert.Equal(Finance, staff.Shown("fred", "c9"));
    }

    [Fact]
    public void The_members_the_portals_and_the_ledgers_names_stay_as_they_are()
    {
        var staff = Of([new Act("anna", "c1", StaffNames.Support)]);

        Assert.Equal("kadri", staff.Shown("kadri", "c1"));
        Assert.Equal("portal-web", staff.Shown("portal-web", null));
        Assert.Equal("system:invoicing", staff.Shown("system:invoicing", "c1"));
        Assert.Null(staff.Shown(null, "c1"));
        Assert.Null(staff.Shown((CausedBy?)null));
        Assert.Equal(new CausedBy("kadri", "c4", null), staff.Shown(new CausedBy("kadri", "c4", null)));
    }
}
