using System.Text.Json;

namespace CpsLedger.Tests.Support;

/// <summary>Support acting on someone else's behalf through a call a member or the portal makes too: the body it sends.</summary>
public static class OnBehalf
{
    public const string Reason = "Member called: the portal will not take it";
    public const string Ticket = "CPS-SUP-77";

    /// <summary>The request as support sends it: with its reason and the ticket it answers.</summary>
    public static object BySupport(object body, string reason = Reason, string ticket = Ticket)
    {
        var json = JsonSerializer.SerializeToNode(body)!.AsObject();
        json["supportReason"] = reason;
        json["ticketReference"] = ticket;
        return json;
    }
}
