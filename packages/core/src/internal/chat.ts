import * as Chat from "../Chat.js"
import { trusted } from "./trusted.js"

/**
 * A chat with some fields replaced, without running its checks again: the engine builds chats only from parts that
 * are already valid, several times per item.
 */
export const copyChat = <A>(chat: Chat.Chat<A>, patch: Partial<Chat.Fields>): Chat.Chat<A> =>
  new Chat.Chat({ ...chat, ...patch }, trusted)

/** A new chat from valid parts, without running its checks again (see {@link copyChat}). */
export const makeChat = (fields: Chat.Fields): Chat.Chat => new Chat.Chat(fields, trusted)
