using System.Security.Claims;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;

namespace CpsLedger.Api.Support;

/// <summary>
/// Support's reasons are notes for the audit trail and may be internal (docs/security.md, "Who and why"): support, auditors and
/// finance read them; the account's member, and the portal that shows the member its account, read that CPS support made a
/// change and its ticket (the member's own), never why. One rule for every read that would quote them: the history, the points
/// explanation, the membership and time travel.
/// </summary>
public static class SupportNotes
{
    /// <summary>How a membership support cancelled ended, as the member reads it (and as its e-mail says it).</summary>
    public const string CancelledBySupport = "cancelled by CPS support";

    /// <summary>Whether the caller reads support's reasons: staff do; a member and the portal do not.</summary>
    public static bool ReadsReasons(ClaimsPrincipal user) =>
        user.IsInRole(LedgerRoles.Support) || user.IsInRole(LedgerRoles.Auditor) || user.IsInRole(LedgerRoles.Finance);

    /// <summary>Support's words on a membership it cancelled, which <see cref="AccountMembership"/> keeps for staff.</summary>
    public static string CancelledBySupportBecause(string reason) => $"{CancelledBySupport} ({reason})";

    /// <summary>The explanation as <paramref name="user"/> reads it: a line support wrote keeps its ticket, not support's reason.</summary>
    public static PointsExplanation For(ClaimsPrincipal user, PointsExplanation explanation) => ReadsReasons(user)
        ? explanation
        : explanation with { Lines = [.. explanation.Lines.Select(WithoutSupportsReason)] };

    /// <summary>The membership as <paramref name="user"/> reads it: a term support cancelled says so, without support's reason.</summary>
    public static AccountMembership For(ClaimsPrincipal user, AccountMembership membership) => ReadsReasons(user)
        ? membership
        : membership with { PastMemberships = [.. membership.PastMemberships.Select(WithoutSupportsReason)] };

    // A line with a ticket is support's: an adjustment's or allocation's reason is support's own; a removal's is the event's own
    // reason with support's appended after "; support: " (ProductViewProjection), and the event's own part stays.
    private static PointsLine WithoutSupportsReason(PointsLine line)
    {
        if (line.TicketReference is null || line.Reason is null)
            return line;
        var own = line.Event == nameof(PointsRemoved) ? line.Reason.IndexOf(SupportSeparator, StringComparison.Ordinal) : -1;
        return line with { Reason = own > 0 ? line.Reason[..own] : null };
    }

    /// <summary>What <see cref="ProductViewProjection"/> puts between a removal's own reason and support's.</summary>
    public const string SupportSeparator = "; support: ";

    private static MembershipTerm WithoutSupportsReason(MembershipTerm term) =>
        term.EndedBecause is { } because && because.StartsWith(CancelledBySupport + " (", StringComparison.Ordinal)
            ? term with { EndedBecause = CancelledBySupport }
            : term;
}
